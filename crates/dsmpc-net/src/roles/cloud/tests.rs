//! Tests of the cloud server's durability: concurrent submissions all reach the log in the order
//! the state applied them (replay rebuilds the same state), and a failed commit is never
//! acknowledged and stops the cloud until it is restarted.

use std::path::{Path, PathBuf};

use crate::store::Store;

use dsmpc_core::encoding::{Encoding, InputRange};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cp::admission_request;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::round1::Committee;
use dsmpc_core::task::{Function, Mode};
use dsmpc_core::with_field;

use super::*;
use crate::simulate::party;

/// A roster of a cloud, an edge and `cps` CPs, and `dps` DPs registered with the cloud.
struct Parties {
    roster: Arc<Roster>,
    cloud: Arc<SecretIdentity>,
    cps: Vec<Arc<SecretIdentity>>,
    dps: Vec<Arc<SecretIdentity>>,
    /// Values per input (1 unless set).
    dim: u32,
    mode: Mode,
}

impl Parties {
    fn new(cps: u32, dps: usize) -> Parties {
        let cloud = party("cloud", Role::Cloud);
        let edge = party("edge", Role::Edge);
        let cps: Vec<_> = (1..=cps)
            .map(|i| party(&format!("cp{i}"), Role::Cp))
            .collect();
        let dps: Vec<_> = (1..=dps)
            .map(|k| party(&format!("dp{k}"), Role::Dp))
            .collect();
        let cards = [&cloud, &edge]
            .into_iter()
            .chain(&cps)
            .map(|p| p.card().clone());
        let roster = Arc::new(Roster::new(cards).unwrap());
        Parties {
            roster,
            cloud,
            cps,
            dps,
            dim: 1,
            mode: Mode::Verifiable,
        }
    }

    /// Registers every DP in the store `db`.
    fn register(&self, db: &Path) {
        let cards: Vec<IdentityCard> = self.dps.iter().map(|d| d.card().clone()).collect();
        Store::open(db).unwrap().register_dps(&cards).unwrap();
    }

    /// The cloud server on the store `db`, with every DP registered.
    fn open(&self, db: &Path) -> Arc<CloudServer> {
        self.register(db);
        let server = CloudServer::open(
            self.cloud.clone(),
            self.roster.clone(),
            db,
            CloudConfig::default(),
            FlowLog::disabled(),
        )
        .unwrap();
        Arc::new(server)
    }

    fn params(&self) -> TaskParams {
        let mut weights: Vec<(PartyId, i128)> =
            self.dps.iter().map(|d| (d.id().clone(), 1)).collect();
        weights.sort();
        let now = unix_now();
        TaskParams {
            function: Function::Sum,
            dim: self.dim,
            encoding: Encoding::Exact {
                input_scale: 0,
                weight_scale: 0,
                range: InputRange::new(-100, 100).unwrap(),
            },
            weights,
            n: self.cps.len() as u32,
            t: 2,
            additive: false,
            mode: self.mode,
            admission_deadline: now + 3600,
            submission_deadline: now + 3600,
            validate: false,
        }
    }

    /// Creates a task, through the handler.
    async fn create_task(&self, server: &Arc<CloudServer>) -> Signed<Task> {
        match call(server, &self.cloud, Request::CreateTask(self.params())).await {
            Response::Task(t) => t,
            other => panic!("create-task answered {other:?}"),
        }
    }

    /// Creates a task and admits every CP, through the handler.
    async fn open_task(&self, server: &Arc<CloudServer>) -> (Signed<Task>, Signed<Committee>) {
        let task = self.create_task(server).await;
        let id = task.body.id;
        for cp in &self.cps {
            let request = admission_request(cp, &self.roster, &id, unix_now(), &mut fast_rng());
            let answer = call(server, cp, Request::Admit(id, request)).await;
            assert!(matches!(answer, Response::Grant(_)), "{answer:?}");
        }
        match call(server, &self.cloud, Request::GetCommittee(id)).await {
            Response::Committee(Some(c)) => (task, c),
            other => panic!("no committee: {other:?}"),
        }
    }

    /// Every DP's bundle for `task`, as an upload request.
    fn uploads(&self, task: &Signed<Task>, committee: &Signed<Committee>) -> Vec<Request> {
        let gens = GeneratorCache::default().for_task(&task.body).unwrap();
        self.dps
            .iter()
            .zip(1..)
            .map(|(identity, value)| {
                let dp = Dp::new(identity.clone(), self.roster.clone());
                let mut rng = fast_rng();
                let input = vec![value; self.dim as usize];
                let bundle = with_field!(task.body.field(), F => dp
                    .submit::<F, _>(&task.body, &committee.body, &input, gens.as_deref(), &mut rng)
                    .unwrap());
                Request::SubmitBundle(task.body.id, bundle)
            })
            .collect()
    }
}

async fn call(server: &Arc<CloudServer>, from: &SecretIdentity, request: Request) -> Response {
    server.clone().handle(from.card().clone(), request).await
}

/// What the cloud shows of a task: its status and CP 1's deliveries (in arrival order).
async fn snapshot(server: &Arc<CloudServer>, parties: &Parties, task: TaskId) -> Vec<Response> {
    let deliveries = Request::GetDeliveries {
        task,
        index: 1,
        after: None,
    };
    vec![
        call(server, &parties.cloud, Request::GetStatus(task)).await,
        call(server, &parties.cloud, Request::GetCommittee(task)).await,
        call(server, &parties.cloud, deliveries).await,
    ]
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("cloud.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_are_all_durable_and_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 60);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    let uploads = parties.uploads(&task, &committee);
    // The last DP uploads after everyone else, so the state sees the task complete at the end.
    let (last, rest) = uploads.split_last().unwrap();
    let submissions: Vec<_> = rest
        .iter()
        .zip(&parties.dps)
        .map(|(request, dp)| {
            let (server, dp, request) = (server.clone(), dp.clone(), request.clone());
            tokio::spawn(async move { server.handle(dp.card().clone(), request).await })
        })
        .collect();
    for submission in submissions {
        assert_eq!(submission.await.unwrap(), Response::Ok);
    }
    // An identical resend is acknowledged again, and not logged twice.
    assert_eq!(
        call(&server, &parties.dps[0], rest[0].clone()).await,
        Response::Ok
    );
    let last_dp = parties.dps.last().unwrap();
    assert_eq!(call(&server, last_dp, last.clone()).await, Response::Ok);
    let before = snapshot(&server, &parties, id).await;
    let Response::Status(status) = &before[0] else {
        panic!("no status: {:?}", before[0]);
    };
    assert_eq!(status.submitted, 60);
    assert_eq!(status.phase, Phase::Verifying);
    let Response::Deliveries(deliveries) = &before[2] else {
        panic!("no deliveries: {:?}", before[2]);
    };
    assert_eq!(
        deliveries.len(),
        60,
        "every bundle is served from the store"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.index == 1 && d.digest_matches())
    );
    drop(server);

    let store = Store::open(&db_in(&dir)).unwrap();
    let kinds: Vec<String> = store
        .events(&id.0)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(store.bundle_count(&id.0).unwrap(), 60);
    assert!(
        !kinds.iter().any(|k| k == "bundle"),
        "bundles are not events"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("close-submissions"));
    drop(store);

    let reopened = parties.open(&db_in(&dir));
    assert_eq!(snapshot(&reopened, &parties, id).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_not_acknowledged_and_stops_the_cloud_until_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    let uploads = parties.uploads(&task, &committee);

    // Another connection makes every bundle insert fail from now on.
    let sql = rusqlite::Connection::open(db_in(&dir)).unwrap();
    sql.execute_batch(
        "CREATE TRIGGER refuse_bundles BEFORE INSERT ON bundles
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    let answer = call(&server, &parties.dps[0], uploads[0].clone()).await;
    let Response::Refused(reason) = answer else {
        panic!("a bundle that was not committed was acknowledged: {answer:?}");
    };
    assert!(reason.contains("store failed"), "{reason}");
    assert!(reason.contains("injected failure"), "{reason}");
    // From now on the cloud answers nothing from its (diverged) state.
    for (request, from) in [
        (uploads[1].clone(), &parties.dps[1]),
        (Request::GetStatus(id), &parties.cloud),
        (Request::ListTasks, &parties.cloud),
    ] {
        let answer = call(&server, from, request).await;
        assert!(
            matches!(&answer, Response::Refused(r) if r.contains("restarted")),
            "{answer:?}"
        );
    }
    drop(server);

    // Restarted with a working store, the cloud holds neither bundle and takes both again.
    sql.execute_batch("DROP TRIGGER refuse_bundles").unwrap();
    drop(sql);
    let restarted = parties.open(&db_in(&dir));
    match call(&restarted, &parties.cloud, Request::GetStatus(id)).await {
        Response::Status(status) => {
            assert_eq!(status.phase, Phase::Collecting);
            assert_eq!(status.submitted, 0);
        }
        other => panic!("no status: {other:?}"),
    }
    for (request, dp) in uploads.iter().zip(&parties.dps).take(2) {
        assert_eq!(call(&restarted, dp, request.clone()).await, Response::Ok);
    }
}

#[tokio::test]
async fn a_bundle_is_checked_before_it_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 2);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let mut uploads = parties.uploads(&task, &committee);
    // A flipped signature bit, a bundle for an unknown task, someone else's bundle.
    let Request::SubmitBundle(id, mut bundle) = uploads.remove(0) else {
        unreachable!()
    };
    let mut signature = bundle.core.signature.to_bytes();
    signature[0] ^= 1;
    bundle.core.signature = ed25519_dalek::Signature::from_bytes(&signature);
    let forged = Request::SubmitBundle(id, bundle.clone());
    let unknown = Request::SubmitBundle(TaskId([9; 16]), bundle);
    for (request, from) in [
        (forged, &parties.dps[0]),
        (unknown, &parties.dps[0]),
        (uploads[0].clone(), &parties.dps[0]),
    ] {
        let answer = call(&server, from, request).await;
        assert!(matches!(answer, Response::Refused(_)), "{answer:?}");
    }
    match call(&server, &parties.cloud, Request::GetStatus(id)).await {
        Response::Status(status) => assert_eq!(status.submitted, 0),
        other => panic!("no status: {other:?}"),
    }
}

#[tokio::test]
async fn tasks_are_listed_by_id_and_fetched_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let server = parties.open(&db_in(&dir));
    let (task, _) = parties.open_task(&server).await;
    let id = task.body.id;
    assert_eq!(
        call(&server, &parties.dps[0], Request::ListTasks).await,
        Response::TaskIds(vec![id])
    );
    assert_eq!(
        call(&server, &parties.dps[0], Request::GetTask(id)).await,
        Response::Task(task)
    );
    let unknown = TaskId([0xee; 16]);
    match call(&server, &parties.dps[0], Request::GetTask(unknown)).await {
        Response::Refused(reason) => assert!(reason.contains("unknown task"), "{reason}"),
        other => panic!("an unknown task was answered: {other:?}"),
    }
}

/// What a pipelining client's requests get: the answers of the requests one by one, in order —
/// bundles whose signatures were checked together included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_requests_is_answered_as_they_would_be_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 2);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    let uploads = parties.uploads(&task, &committee);
    let Request::SubmitBundle(_, bundle) = uploads[0].clone() else {
        unreachable!()
    };
    let mut forged = bundle.clone();
    let mut signature = forged.core.signature.to_bytes();
    signature[0] ^= 1;
    forged.core.signature = ed25519_dalek::Signature::from_bytes(&signature);
    let mut tampered = bundle.clone();
    tampered.shares[0].ciphertext[0] ^= 1;
    let batch = [
        Request::SubmitBundle(id, forged),
        Request::SubmitBundle(TaskId([9; 16]), bundle.clone()),
        uploads[1].clone(), // dp2's bundle, sent by dp1
        Request::SubmitBundle(id, tampered),
        uploads[0].clone(),
        Request::GetStatus(id),
        uploads[0].clone(), // an identical resend
    ];
    let requests = batch.iter().map(|r| (r.clone(), r.to_bytes())).collect();
    let dp1 = parties.dps[0].card().clone();
    let answers = server.clone().handle_batch(dp1, requests).await;
    assert_eq!(answers.len(), batch.len());
    let refusal = |i: usize| match &answers[i] {
        Response::Refused(reason) => reason.clone(),
        other => panic!("request {i} was answered {other:?}"),
    };
    assert!(refusal(0).contains("signature"), "{}", refusal(0));
    assert!(refusal(1).contains("unknown task"), "{}", refusal(1));
    assert!(refusal(2).contains("may not submit"), "{}", refusal(2));
    assert!(refusal(3).contains("signed digest"), "{}", refusal(3));
    assert_eq!(answers[4], Response::Ok);
    match &answers[5] {
        Response::Status(status) => assert_eq!(status.submitted, 1),
        other => panic!("no status: {other:?}"),
    }
    assert_eq!(answers[6], Response::Ok);

    // What was acknowledged is durable: a restarted cloud has dp1's bundle and nothing else.
    drop(server);
    let restarted = parties.open(&db_in(&dir));
    match call(&restarted, &parties.cloud, Request::GetStatus(id)).await {
        Response::Status(status) => assert_eq!(status.submitted, 1),
        other => panic!("no status: {other:?}"),
    }
}

/// The same over a real connection: requests pipelined by a client (one of them garbage) are
/// answered in order, the garbage refused in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_over_a_connection_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let flow = FlowLog::disabled();
    parties.register(&db_in(&dir));
    let servers = crate::simulate::spawn_cloud(
        &parties.cloud,
        &parties.roster,
        listener,
        &db_in(&dir),
        &flow,
    )
    .unwrap();
    let _servers = AbortOnDrop(servers);
    let connect = |who: &Arc<SecretIdentity>| {
        let config = crate::channel::ChannelConfig::default();
        let cloud = parties.roster.cloud().clone();
        let address = address.clone();
        let who = who.clone();
        async move {
            crate::client::Client::connect(&who, &cloud, &address, &config, FlowLog::disabled())
                .await
                .unwrap()
        }
    };
    let mut operator = connect(&parties.cloud).await;
    let task = match operator.call(&Request::CreateTask(parties.params())).await {
        Ok(Response::Task(t)) => t,
        other => panic!("create-task answered {other:?}"),
    };
    let id = task.body.id;
    for cp in &parties.cps {
        let request = admission_request(cp, &parties.roster, &id, unix_now(), &mut fast_rng());
        let mut client = connect(cp).await;
        let answer = client.call(&Request::Admit(id, request)).await.unwrap();
        assert!(matches!(answer, Response::Grant(_)), "{answer:?}");
    }
    let committee = match operator.call(&Request::GetCommittee(id)).await {
        Ok(Response::Committee(Some(c))) => c,
        other => panic!("no committee: {other:?}"),
    };
    let uploads = parties.uploads(&task, &committee);
    let mut dp1 = connect(&parties.dps[0]).await;
    let messages = vec![
        uploads[0].to_bytes(),
        vec![0xff, 0x00, 0x13],
        Request::GetStatus(id).to_bytes(),
    ];
    let answers = dp1.send_raw_pipelined(&messages).await.unwrap();
    assert_eq!(answers[0], Response::Ok);
    match &answers[1] {
        Response::Refused(reason) => assert!(reason.contains("malformed request"), "{reason}"),
        other => panic!("garbage was answered {other:?}"),
    }
    match &answers[2] {
        Response::Status(status) => assert_eq!(status.submitted, 1),
        other => panic!("no status: {other:?}"),
    }
    // More requests than one window, on the typed API: every answer in order.
    let many: Vec<Request> = (0..2 * crate::server::MAX_PIPELINED + 3)
        .map(|_| Request::GetStatus(id))
        .collect();
    let answers = dp1.call_pipelined(&many).await.unwrap();
    assert_eq!(answers.len(), many.len());
    assert!(answers.iter().all(|a| matches!(a, Response::Status(_))));
    // The connection still answers one request at a time afterwards.
    let mut dp2 = connect(&parties.dps[1]).await;
    assert_eq!(dp2.call(&uploads[1]).await.unwrap(), Response::Ok);
}

/// An await that the test has to see answered well before the server's longest wait
/// ([`crate::rpc::MAX_AWAIT`], 10 s): only news can answer it in time.
fn await_news(
    server: &Arc<CloudServer>,
    from: &SecretIdentity,
    until: Until,
) -> tokio::task::JoinHandle<Response> {
    let (server, card) = (server.clone(), from.card().clone());
    let request = Request::Await {
        millis: 60_000,
        until,
    };
    tokio::spawn(async move { server.handle(card, request).await })
}

async fn answered_by_news(waiter: tokio::task::JoinHandle<Response>) -> Response {
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the await was not woken by its news")
        .unwrap()
}

/// Each kind of news wakes the awaits for it at once: a task created, a committee completed,
/// submissions closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaits_are_answered_as_soon_as_their_news_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let server = parties.open(&db_in(&dir));
    let cp = &parties.cps[0];

    let new_task = await_news(&server, cp, Until::Tasks { known: 0 });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!new_task.is_finished(), "answered before there was a task");
    let task = parties.create_task(&server).await;
    let id = task.body.id;
    assert_eq!(
        answered_by_news(new_task).await,
        Response::TaskIds(vec![id])
    );

    let committee = await_news(&server, cp, Until::Committee(id));
    let closed = await_news(&server, cp, Until::Phase(id, Phase::Verifying));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!committee.is_finished() && !closed.is_finished());
    for cp in &parties.cps {
        let request = admission_request(cp, &parties.roster, &id, unix_now(), &mut fast_rng());
        let answer = call(&server, cp, Request::Admit(id, request)).await;
        assert!(matches!(answer, Response::Grant(_)), "{answer:?}");
    }
    let Response::Committee(Some(committee)) = answered_by_news(committee).await else {
        panic!("the committee await did not get the committee");
    };
    assert_eq!(
        call(&server, cp, Request::GetCommittee(id)).await,
        Response::Committee(Some(committee.clone()))
    );

    let uploads = parties.uploads(&task, &committee);
    for (request, dp) in uploads.iter().zip(&parties.dps) {
        assert!(
            !closed.is_finished(),
            "answered while submissions were open"
        );
        assert_eq!(call(&server, dp, request.clone()).await, Response::Ok);
    }
    match answered_by_news(closed).await {
        Response::Status(s) => {
            assert_eq!(s.phase, Phase::Verifying);
            assert_eq!(s.submitted, 4);
        }
        other => panic!("the phase await got {other:?}"),
    }
}

/// Without news, an await answers what there is when its wait ends; news already there, an
/// unknown task or a result (served by the edge) are answered at once.
#[tokio::test]
async fn awaits_without_news_answer_what_there_is_when_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let server = parties.open(&db_in(&dir));
    let task = parties.create_task(&server).await;
    let id = task.body.id;
    let cp = &parties.cps[0];
    let short = |until| Request::Await { millis: 30, until };
    assert_eq!(
        call(&server, cp, short(Until::Committee(id))).await,
        Response::Committee(None)
    );
    assert_eq!(
        call(&server, cp, short(Until::Tasks { known: 1 })).await,
        Response::TaskIds(vec![id])
    );
    match call(&server, cp, short(Until::Phase(id, Phase::Collecting))).await {
        Response::Status(s) => assert_eq!(s.phase, Phase::Admitting),
        other => panic!("the phase await got {other:?}"),
    }
    // Answered at once, whatever the wait asked for.
    let long = |until| Request::Await {
        millis: u32::MAX,
        until,
    };
    let at_once = tokio::time::timeout(Duration::from_secs(5), async {
        (
            call(&server, cp, long(Until::Tasks { known: 0 })).await,
            call(&server, cp, long(Until::Phase(id, Phase::Admitting))).await,
            call(&server, cp, long(Until::Committee(TaskId([0xee; 16])))).await,
            call(&server, cp, long(Until::Result(id))).await,
        )
    })
    .await
    .expect("an await that had its answer waited");
    assert_eq!(at_once.0, Response::TaskIds(vec![id]));
    assert!(matches!(at_once.1, Response::Status(ref s) if s.phase == Phase::Admitting));
    assert!(
        matches!(at_once.2, Response::Refused(ref r) if r.contains("unknown task")),
        "{:?}",
        at_once.2
    );
    assert!(
        matches!(at_once.3, Response::Refused(ref r) if r.contains("edge")),
        "{:?}",
        at_once.3
    );
}

/// The cloud of `parties` serving on a free loopback port (its store in `dir`) until the guard
/// is dropped; returns its address and the guard.
async fn serve_on_loopback(parties: &Parties, dir: &tempfile::TempDir) -> (String, AbortOnDrop) {
    parties.register(&db_in(dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let handles = crate::simulate::spawn_cloud(
        &parties.cloud,
        &parties.roster,
        listener,
        &db_in(dir),
        &FlowLog::disabled(),
    )
    .unwrap();
    (address, AbortOnDrop(handles))
}

/// Over a real Noise channel: a client's wait for the committee ends the moment the last CP is
/// admitted, and a wait whose news never comes ends in a timeout naming what it waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_wait_ends_with_the_news_or_times_out() {
    use crate::channel::ChannelConfig;
    use crate::client::{Link, NetError};
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let (address, _serving) = serve_on_loopback(&parties, &dir).await;
    let link = |me: &Arc<SecretIdentity>| {
        Link::new(
            me.clone(),
            parties.roster.cloud().clone(),
            address.clone(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            Duration::from_secs(5),
        )
    };
    let operator = link(&parties.cloud);
    let Response::Task(task) = operator
        .call(&Request::CreateTask(parties.params()))
        .await
        .unwrap()
    else {
        panic!("no task");
    };
    let id = task.body.id;
    let committee_of = |r: Response| {
        Ok(match r {
            Response::Committee(c) => c,
            _ => None,
        })
    };

    let started = std::time::Instant::now();
    let timed_out = operator
        .wait_for(
            Until::Committee(id),
            "the committee",
            Duration::from_millis(300),
            committee_of,
        )
        .await;
    assert!(
        matches!(&timed_out, Err(NetError::Timeout { what, .. }) if what == "the committee"),
        "{timed_out:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    let waiting = tokio::spawn(async move {
        operator
            .wait_for(
                Until::Committee(id),
                "the committee",
                Duration::from_secs(60),
                committee_of,
            )
            .await
    });
    for cp in &parties.cps {
        let request = admission_request(cp, &parties.roster, &id, unix_now(), &mut fast_rng());
        let answer = link(cp).call(&Request::Admit(id, request)).await.unwrap();
        assert!(matches!(answer, Response::Grant(_)), "{answer:?}");
    }
    let committee = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait did not end with the news")
        .unwrap()
        .unwrap();
    assert_eq!(committee.body.members.len(), 3);
}

/// Awaits that arrive with other requests (pipelined) are answered at once: only a lone request
/// may hold a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_awaits_are_answered_at_once() {
    use crate::channel::ChannelConfig;
    use crate::client::Client;
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let (address, _serving) = serve_on_loopback(&parties, &dir).await;
    let mut client = Client::connect(
        &parties.cps[0],
        parties.roster.cloud(),
        &address,
        &ChannelConfig::default(),
        FlowLog::disabled(),
    )
    .await
    .unwrap();
    let task = match client.call(&Request::CreateTask(parties.params())).await {
        Err(crate::client::NetError::Refused { reason, .. }) => reason,
        other => panic!("a CP created a task: {other:?}"),
    };
    assert!(task.contains("operator"), "{task}");
    let long = |until| Request::Await {
        millis: 60_000,
        until,
    };
    let answers = tokio::time::timeout(
        Duration::from_secs(5),
        client.call_pipelined(&[
            long(Until::Tasks { known: 0 }),
            long(Until::Committee(TaskId([7; 16]))),
            long(Until::Tasks { known: 0 }),
        ]),
    )
    .await
    .expect("pipelined awaits were held")
    .unwrap();
    assert_eq!(answers[0], Response::TaskIds(Vec::new()));
    assert!(
        matches!(&answers[1], Response::Refused(r) if r.contains("unknown task")),
        "{:?}",
        answers[1]
    );
    assert_eq!(answers[2], Response::TaskIds(Vec::new()));
    // A lone await on the same connection still waits for its news (here: its end).
    let lone = tokio::time::timeout(
        Duration::from_millis(150),
        client.call(&long(Until::Tasks { known: 0 })),
    )
    .await;
    assert!(lone.is_err(), "a lone await was answered without news");
}

/// A link whose connection the server closed while it sat idle reconnects at once: with 50 ms of
/// patience there is no room for a back-off (100 ms), so the second call succeeds only if the
/// fresh connection is tried before any pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_replaces_a_connection_the_server_closed_while_idle_at_once() {
    use crate::channel::ChannelConfig;
    use crate::client::Link;
    use crate::server::{ServerContext, serve};
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let server = parties.open(&db_in(&dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let context = ServerContext {
        identity: parties.cloud.clone(),
        roster: parties.roster.clone(),
        directory: parties.roster.clone(),
        channel: ChannelConfig {
            io_timeout: Duration::from_millis(100),
            ..ChannelConfig::default()
        },
        flow: FlowLog::disabled(),
        max_connections: 16,
        max_handshakes: crate::server::MAX_HANDSHAKES,
        handshake_deadline: crate::server::HANDSHAKE_DEADLINE,
    };
    let _serving = AbortOnDrop(vec![tokio::spawn(serve(
        listener,
        context,
        server,
        std::future::pending(),
    ))]);
    let link = Link::new(
        parties.cps[0].clone(),
        parties.roster.cloud().clone(),
        address,
        ChannelConfig::default(),
        FlowLog::disabled(),
        Duration::from_millis(50),
    );
    assert_eq!(
        link.call(&Request::ListTasks).await.unwrap(),
        Response::TaskIds(Vec::new())
    );
    // The server drops the connection after 100 ms without a request.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        link.call(&Request::ListTasks).await.unwrap(),
        Response::TaskIds(Vec::new())
    );
}

/// Bundles too large to keep inline go to the task's segment file; CPs' deliveries, a single
/// delivery and paging after a DP are served from it, and a cloud restarted on the same files
/// serves the same bytes (every share still matches the digest its DP signed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bundles_are_served_from_segment_files_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut parties = Parties::new(3, 5);
    (parties.dim, parties.mode) = (3000, Mode::Fast);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    for (request, dp) in parties
        .uploads(&task, &committee)
        .into_iter()
        .zip(&parties.dps)
    {
        let Request::SubmitBundle(_, bundle) = &request else {
            unreachable!()
        };
        let shares: usize = bundle.shares.iter().map(|s| 36 + s.ciphertext.len()).sum();
        assert!(
            shares > crate::store::INLINE_SHARES,
            "{shares} bytes stay inline"
        );
        assert_eq!(call(&server, dp, request).await, Response::Ok);
    }
    let segments = crate::store::Segments::dir_for(&db_in(&dir));
    assert_eq!(std::fs::read_dir(&segments).unwrap().count(), 1);
    let cp2 = &parties.cps[1];
    let index = committee.body.index_of(cp2.id()).unwrap();
    let served = |server: Arc<CloudServer>, after: Option<PartyId>| async move {
        let request = Request::GetDeliveries {
            task: id,
            index,
            after,
        };
        match call(&server, cp2, request).await {
            Response::Deliveries(d) => d,
            other => panic!("no deliveries: {other:?}"),
        }
    };
    let before = served(server.clone(), None).await;
    assert_eq!(before.len(), 5);
    assert!(
        before
            .iter()
            .all(|d| d.index == index && d.digest_matches())
    );
    let second = before[1].core.signer.clone();
    let rest = served(server.clone(), Some(second.clone())).await;
    assert_eq!(rest, before[2..]);
    drop(server);

    let reopened = parties.open(&db_in(&dir));
    assert_eq!(served(reopened.clone(), None).await, before);
    let one = Request::GetDelivery {
        task: id,
        dp: second,
        index,
    };
    assert_eq!(
        call(&reopened, cp2, one).await,
        Response::Delivery(Some(before[1].clone()))
    );

    // A segment file cut short (a disk fault, a hand edit) is refused with a reason, not served.
    let file = std::fs::read_dir(&segments)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let request = Request::GetDeliveries {
        task: id,
        index,
        after: None,
    };
    match call(&reopened, cp2, request).await {
        Response::Refused(reason) => assert!(reason.contains("past the end"), "{reason}"),
        other => panic!("a cut segment was served: {other:?}"),
    }
}

/// Over real Noise channels: a DP the registry does not hold can neither connect nor be listed in
/// a task; only the operator may register one; once registered, it connects and a task lists it
/// with its registered key; a DP's keys are never replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_registered_dps_connect_and_are_listed() {
    use crate::channel::{ChannelConfig, ChannelError};
    use crate::client::{Client, NetError};
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 2);
    let (address, _serving) = serve_on_loopback(&parties, &dir).await;
    let config = ChannelConfig::default();
    let cloud_card = parties.roster.cloud().clone();
    let stranger = party("dp9", Role::Dp);
    let connect = |who: Arc<SecretIdentity>| {
        let (cloud_card, address, config) = (cloud_card.clone(), address.clone(), config.clone());
        async move { Client::connect(&who, &cloud_card, &address, &config, FlowLog::disabled()).await }
    };

    // Not registered: its connection is dropped unconfirmed, with the hint to register.
    let mut client = connect(stranger.clone()).await.unwrap();
    let err = client.call(&Request::ListTasks).await.unwrap_err();
    assert!(
        matches!(
            &err,
            NetError::Channel {
                source: ChannelError::Unconfirmed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("dsmpc dp register"), "{err}");

    // Nor may a task list it.
    let mut operator = connect(parties.cloud.clone()).await.unwrap();
    let mut params = parties.params();
    params.weights.push((stranger.id().clone(), 1));
    let err = operator
        .call(&Request::CreateTask(params.clone()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("dp9 is not a registered data provider"),
        "{err}"
    );

    // Only the operator registers.
    let mut dp1 = connect(parties.dps[0].clone()).await.unwrap();
    let register = Request::RegisterDps(vec![stranger.card().clone()]);
    let err = dp1.call(&register).await.unwrap_err();
    assert!(err.to_string().contains("only the cloud operator"), "{err}");
    let answer = operator.call(&register).await.unwrap();
    assert_eq!(
        answer,
        Response::Registered {
            added: 1,
            already: 0
        }
    );

    // Now it connects, and a task lists it with its registered key.
    let mut client = connect(stranger.clone()).await.unwrap();
    assert!(matches!(
        client.call(&Request::ListTasks).await,
        Ok(Response::TaskIds(_))
    ));
    let Response::Task(task) = operator.call(&Request::CreateTask(params)).await.unwrap() else {
        panic!("no task");
    };
    let Response::DpEntry(Some(entry)) = client
        .call(&Request::GetDpEntry {
            task: task.body.id,
            dp: stranger.id().clone(),
        })
        .await
        .unwrap()
    else {
        panic!("no entry");
    };
    assert_eq!(entry.key, stranger.card().verifying_key.to_bytes());
    assert!(task.body.verify_entry(stranger.id(), &entry).is_some());

    // Other keys under its id are refused; a server's id or Noise key cannot be registered.
    let impostor = party("dp9", Role::Dp);
    let err = operator
        .call(&Request::RegisterDps(vec![impostor.card().clone()]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already registered with other keys"),
        "{err}"
    );
    let mut cp_as_dp = parties.cps[0].card().clone();
    cp_as_dp.role = Role::Dp;
    let err = operator
        .call(&Request::RegisterDps(vec![cp_as_dp]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("of a server in the roster"),
        "{err}"
    );
}

/// A link to a server with several addresses (a cloud's front-ends) gets through while one of
/// them refuses connections, whichever it tries first, and keeps to the one that answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_fails_over_to_another_front_end() {
    use crate::channel::ChannelConfig;
    use crate::client::Link;
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 4);
    let (live, _serving) = serve_on_loopback(&parties, &dir).await;
    // A port nobody listens on: bound, then closed.
    let dead = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap().to_string()
    };
    for (list, who) in [
        (format!("{dead},{live}"), &parties.cloud),
        (format!("{live},{dead}"), &parties.cloud),
        (format!("{dead},{live}"), &parties.cps[0]),
        (format!("{live},{dead}"), &parties.cps[1]),
    ] {
        let link = Link::new(
            who.clone(),
            parties.roster.cloud().clone(),
            list.clone(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            Duration::from_secs(5),
        );
        for _ in 0..3 {
            let answer = link.call(&Request::ListTasks).await;
            assert_eq!(answer.unwrap(), Response::TaskIds(Vec::new()), "{list}");
        }
    }
    // With only dead addresses the link gives up at its patience, naming them.
    let link = Link::new(
        parties.cloud.clone(),
        parties.roster.cloud().clone(),
        format!("{dead},{dead}"),
        ChannelConfig::default(),
        FlowLog::disabled(),
        Duration::from_millis(300),
    );
    let err = link
        .call(&Request::ListTasks)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{dead},{dead}")), "{err}");
}

/// A CP's workers get disjoint parts of the deliveries that together are all of them, and only
/// the CP at an index may hand in or fetch that index's sealed parts (not another CP, not the
/// cloud's operator); a part handed in again replaces the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_get_disjoint_parts_and_only_their_cp_reads_its_parts() {
    use crate::store::WorkerPart;
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 7);
    let server = parties.open(&db_in(&dir));
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    for (request, dp) in parties
        .uploads(&task, &committee)
        .into_iter()
        .zip(&parties.dps)
    {
        assert_eq!(call(&server, dp, request).await, Response::Ok);
    }
    let cp2 = &parties.cps[1];
    let index = committee.body.index_of(cp2.id()).unwrap();
    let signers = |r: Response| -> Vec<String> {
        match r {
            Response::Deliveries(d) => d.iter().map(|d| d.core.signer.to_string()).collect(),
            other => panic!("no deliveries: {other:?}"),
        }
    };
    let whole = signers(
        call(
            &server,
            cp2,
            Request::GetDeliveries {
                task: id,
                index,
                after: None,
            },
        )
        .await,
    );
    assert_eq!(whole.len(), 7);
    let mut parts = Vec::new();
    for worker in 1..=3 {
        let part = WorkerPart::new(worker, 3).unwrap();
        let request = |after| Request::GetPartDeliveries {
            task: id,
            index,
            part,
            after,
        };
        let got = signers(call(&server, cp2, request(None)).await);
        let expected: Vec<String> = whole
            .iter()
            .enumerate()
            .filter(|(pos, _)| part.holds(*pos as u64))
            .map(|(_, dp)| dp.clone())
            .collect();
        assert_eq!(got, expected, "part {part}");
        // Paging after the part's first DP goes on within the part.
        let first = PartyId::new(&got[0]).unwrap();
        let rest = signers(call(&server, cp2, request(Some(first))).await);
        assert_eq!(rest, got[1..]);
        parts.extend(got);
    }
    parts.sort();
    let mut all = whole.clone();
    all.sort();
    assert_eq!(parts, all);

    let part = WorkerPart::new(2, 2).unwrap();
    let put = |sealed: &[u8]| Request::PutCpPart {
        task: id,
        index,
        part,
        sealed: sealed.to_vec(),
    };
    let get = Request::GetCpPart {
        task: id,
        index,
        part,
    };
    assert_eq!(
        call(&server, cp2, get.clone()).await,
        Response::CpPart(None)
    );
    assert_eq!(call(&server, cp2, put(b"first")).await, Response::Ok);
    assert_eq!(call(&server, cp2, put(b"second")).await, Response::Ok);
    assert_eq!(
        call(&server, cp2, get.clone()).await,
        Response::CpPart(Some(b"second".to_vec()))
    );
    for other in [&parties.cps[0], &parties.cloud] {
        for request in [put(b"forged"), get.clone()] {
            match call(&server, other, request).await {
                Response::Refused(r) => assert!(r.contains("is not CP"), "{r}"),
                answer => panic!("{} got {answer:?}", other.id()),
            }
        }
    }
    assert_eq!(
        call(&server, cp2, get).await,
        Response::CpPart(Some(b"second".to_vec()))
    );
}

#[tokio::test]
async fn the_operator_closes_submissions_early_and_no_one_else_may() {
    let dir = tempfile::tempdir().unwrap();
    let parties = Parties::new(3, 3);
    let server = parties.open(&db_in(&dir));
    // Before the committee is admitted, submissions have not opened: refused.
    let early = parties.create_task(&server).await.body.id;
    let answer = call(&server, &parties.cloud, Request::CloseSubmissions(early)).await;
    assert!(
        matches!(&answer, Response::Refused(r) if r.contains("no admitted committee")),
        "{answer:?}"
    );
    let (task, committee) = parties.open_task(&server).await;
    let id = task.body.id;
    let uploads = parties.uploads(&task, &committee);
    for (request, dp) in uploads.iter().zip(&parties.dps).take(2) {
        assert_eq!(call(&server, dp, request.clone()).await, Response::Ok);
    }
    // A DP, a CP: refused; an unknown task: refused.
    for who in [&parties.dps[2], &parties.cps[0]] {
        let answer = call(&server, who, Request::CloseSubmissions(id)).await;
        assert!(
            matches!(&answer, Response::Refused(r) if r.contains("only the cloud operator")),
            "{answer:?}"
        );
    }
    let unknown = call(
        &server,
        &parties.cloud,
        Request::CloseSubmissions(TaskId([9; 16])),
    )
    .await;
    assert!(matches!(unknown, Response::Refused(_)), "{unknown:?}");
    // The operator closes: the task moves on at once, and the third DP is too late.
    assert_eq!(
        call(&server, &parties.cloud, Request::CloseSubmissions(id)).await,
        Response::Ok
    );
    match call(&server, &parties.cloud, Request::GetStatus(id)).await {
        Response::Status(status) => {
            assert_eq!(status.phase, Phase::Verifying);
            assert_eq!(status.submitted, 2);
        }
        other => panic!("no status: {other:?}"),
    }
    let late = call(&server, &parties.dps[2], uploads[2].clone()).await;
    assert!(matches!(late, Response::Refused(_)), "{late:?}");
    // Closing again is acknowledged and changes nothing.
    assert_eq!(
        call(&server, &parties.cloud, Request::CloseSubmissions(id)).await,
        Response::Ok
    );
}
