//! The client side of the operator and the data providers: create a task and wait for its
//! committee, submit a DP's input, and fetch a result.

use std::sync::Arc;
use std::time::Duration;

use dsmpc_core::encoding::Encoding;
use dsmpc_core::identity::{Roster, SecretIdentity};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::round1::Committee;
use dsmpc_core::round4::TaskResult;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Task, TaskId, TaskParams};
use dsmpc_core::with_field;

use super::{GeneratorCache, fetch_task};
use crate::client::{Link, NetError};
use crate::rpc::{Request, Response, Until};
use crate::values::Values;

/// Operator: creates a task and waits (up to `timeout`) until its committee is admitted.
pub async fn create_task(
    cloud: &Link,
    params: TaskParams,
    timeout: Duration,
) -> Result<(Signed<Task>, Signed<Committee>), NetError> {
    let task = match cloud.call(&Request::CreateTask(params)).await? {
        Response::Task(t) => t,
        other => return Err(unexpected(cloud, "create-task", &other)),
    };
    let n = task.body.params.n;
    let committee = wait_committee(cloud, task.body.id, timeout)
        .await
        .map_err(|e| match e {
            NetError::Timeout { seconds, .. } => NetError::Timeout {
                what: format!(
                    "the committee of task {} ({n} CPs) to be admitted: are {n} CPs of the \
                     roster running? The task has failed",
                    task.body.id
                ),
                seconds,
            },
            other => other,
        })?;
    Ok((task, committee))
}

/// Operator: closes task `id`'s submissions now instead of at its deadline; returns once the
/// close is durable (or if they were closed already).
pub async fn close_submissions(cloud: &Link, id: TaskId) -> Result<(), NetError> {
    match cloud.call(&Request::CloseSubmissions(id)).await? {
        Response::Ok => Ok(()),
        other => Err(unexpected(cloud, "close-submissions", &other)),
    }
}

async fn wait_committee(
    cloud: &Link,
    id: TaskId,
    timeout: Duration,
) -> Result<Signed<Committee>, NetError> {
    cloud
        .wait_for(
            Until::Committee(id),
            "the committee to be admitted",
            timeout,
            |r| {
                Ok(match r {
                    Response::Committee(c) => c,
                    _ => None,
                })
            },
        )
        .await
}

fn unexpected(link: &Link, request: &'static str, got: &Response) -> NetError {
    NetError::Unexpected {
        peer: link.peer().clone(),
        request,
        got: got.kind(),
    }
}

/// Data provider: reads `values` (decimal text or a file, one value per dimension) as mantissas at
/// the task's input scale, shares, seals, signs and uploads them; returns once the cloud has
/// durably stored the bundle.
pub async fn submit(
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    cloud: &Link,
    id: TaskId,
    values: &Values,
    timeout: Duration,
) -> Result<(), NetError> {
    submit_showing(identity, roster, cloud, id, values, timeout, |_| {}).await
}

/// [`submit`], first handing `show` one line per CP with the share it will receive
/// (`cpI: e1,e2,...`, canonical field elements) — for `--sec` output, which prints secrets.
pub async fn submit_showing(
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    cloud: &Link,
    id: TaskId,
    values: &Values,
    timeout: Duration,
    show: impl FnOnce(Vec<String>),
) -> Result<(), NetError> {
    let task = fetch_task(cloud, id).await?;
    let committee = wait_committee(cloud, id, timeout).await?;
    let entry = super::fetch_dp_entry(cloud, id, identity.id()).await?;
    let dp = Dp::new(identity, roster);
    dp.check_setup(&task, &committee, &entry)?;
    let scale = match task.body.params.encoding {
        Encoding::Exact { input_scale, .. } => input_scale,
        Encoding::Modular { .. } => 0,
    };
    let input = values.mantissas(scale)?;
    let gens = GeneratorCache::shared().for_task(&task.body)?;
    let bundle = with_field!(task.body.field(), F => {
        let mut rng = fast_rng();
        let prepared = dp.prepare::<F, _>(&task.body, &input, gens.as_deref(), &mut rng)?;
        let mut lines = Vec::new();
        for (payload, member) in prepared.payloads.iter().zip(&committee.body.members) {
            let share = dsmpc_core::sharing::Share { id: 0, value: payload.share.clone() };
            let elements = share.expand(task.body.share_len::<F>())?;
            let text: Vec<String> = elements
                .as_slice()
                .iter()
                .map(|e| {
                    dsmpc_core::field::Field::to_u128(*e)
                        .map_or_else(|| format!("{e:?}"), |v| v.to_string())
                })
                .collect();
            lines.push(format!("{}: {}", member.card.id, text.join(",")));
        }
        show(lines);
        dp.seal(&task.body, &committee.body, &prepared, &mut rng)
    });
    match cloud.call(&Request::SubmitBundle(id, bundle)).await? {
        Response::Ok => Ok(()),
        other => Err(unexpected(cloud, "bundle", &other)),
    }
}

/// Anyone: the result of task `id`, waiting up to `wait` for the edge to reconstruct it (the
/// edge answers as soon as it has; see [`Link::wait_for`]).
pub async fn result(
    edge: &Link,
    roster: &Roster,
    id: TaskId,
    wait: Duration,
) -> Result<Signed<TaskResult>, NetError> {
    let result = edge
        .wait_for(Until::Result(id), "the result", wait, |r| match r {
            Response::Result(r) => Ok(r),
            Response::Failed(failure) => {
                failure.verify(&id, roster, dsmpc_core::identity::Role::Edge)?;
                Err(NetError::TaskFailed {
                    task: id,
                    failure: failure.body,
                })
            }
            _ => Ok(None),
        })
        .await?;
    result.verify(&id, roster, dsmpc_core::identity::Role::Edge)?;
    Ok(result)
}
