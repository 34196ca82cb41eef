//! The request/response messages servers and clients exchange over a channel.
//!
//! Each channel message is one [`Request`] or one [`Response`], encoded with the core's strict codec
//! as `tag u8 ‖ fields`. Protocol messages travel inside them unchanged (their own signatures and
//! sealed boxes intact); these wrappers only say what the sender wants done with them.

use dsmpc_core::codec::{CodecError, Decode, Encode, Reader, Writer, decode_exact};
use dsmpc_core::identity::IdentityCard;
use dsmpc_core::identity::PartyId;
use dsmpc_core::roles::cp::WorkerPart;
use dsmpc_core::round1::{AdmissionGrant, AdmissionRequest, Committee};
use dsmpc_core::round2::{Bundle, BundleCore, ShareDelivery};
use dsmpc_core::round3::{InputSet, VerificationReport};
use dsmpc_core::round4::{ResultShare, TaskFailure, TaskResult};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{
    DpEntry, ListedDp, Task, TaskId, TaskParams, decode_listed_dps, encode_listed_dps,
};

/// The most deliveries one `GetDeliveries` answer carries.
pub const MAX_PAGE: u32 = 4096;

/// The most (DP, weight, key) entries one `GetDpList` answer carries (about 60 bytes each on
/// the wire, 80 decoded: about 2 MB a page in flight at each CP and the edge, which fetch at
/// once; 65,536 a page held 54 MB in flight at 10^5 DPs).
pub const DP_LIST_PAGE: usize = 16_384;

/// The most cards one `RegisterDps` request carries (about 170 bytes each).
pub const REGISTER_PAGE: usize = 16_384;

/// The most signed bundle cores one `GetSummaries` answer carries (each is a few hundred bytes:
/// t commitments, n digests, a signature).
pub const SUMMARY_PAGE: usize = 4096;

/// The most ciphertext bytes one `GetDeliveries` answer carries (at least one delivery is sent).
pub const PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The longest a server holds one [`Request::Await`] before it answers whatever it has; a longer
/// request is cut to this. Well under the channels' 30 s read timeout, so a waiting client never
/// mistakes a quiet server for a stalled one.
pub const MAX_AWAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a refusal that may pass by itself starts: the cloud's store is unreachable for a moment
/// (PostgreSQL restarting) or failed (the cloud exits and is restarted to replay). Clients treat
/// such a refusal as they treat a dropped connection: they retry ([`crate::client::is_transient`]).
pub const UNAVAILABLE: &str = "temporarily unavailable: ";

/// How long a server holds an [`Request::Await`] of `millis`: at most [`MAX_AWAIT`].
pub fn await_limit(millis: u32) -> std::time::Duration {
    std::time::Duration::from_millis(u64::from(millis)).min(MAX_AWAIT)
}

/// Where the encoded bundle starts inside an encoded [`Request::SubmitBundle`]: after the tag and
/// the task id.
const BUNDLE_OFFSET: usize = 1 + 16;

/// The encoded bundle inside `encoded`, the bytes of a [`Request::SubmitBundle`] — so that a
/// server can store the bundle as it arrived instead of encoding it again. `None` for any other
/// request.
pub fn take_bundle_bytes(mut encoded: Vec<u8>) -> Option<Vec<u8>> {
    if encoded.first() != Some(&5) || encoded.len() < BUNDLE_OFFSET {
        return None;
    }
    encoded.drain(..BUNDLE_OFFSET);
    Some(encoded)
}

/// Where a task is in its life at the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Waiting for n CPs.
    Admitting,
    /// Committee complete; taking bundles.
    Collecting,
    /// Submissions closed; waiting for the CPs' verification reports.
    Verifying,
    /// The input set is signed; CPs send result shares to the edge.
    Aggregating,
}

impl Phase {
    fn code(self) -> u8 {
        match self {
            Phase::Admitting => 1,
            Phase::Collecting => 2,
            Phase::Verifying => 3,
            Phase::Aggregating => 4,
        }
    }

    fn from_code(code: u8) -> Result<Phase, CodecError> {
        [
            Phase::Admitting,
            Phase::Collecting,
            Phase::Verifying,
            Phase::Aggregating,
        ]
        .into_iter()
        .find(|p| p.code() == code)
        .ok_or(CodecError::InvalidValue { what: "phase" })
    }

    /// The phase's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Admitting => "admitting",
            Phase::Collecting => "collecting",
            Phase::Verifying => "verifying",
            Phase::Aggregating => "aggregating",
        }
    }
}

/// What a task looks like from outside the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The phase.
    pub phase: Phase,
    /// How many DPs' bundles are stored (a count, so that polling the status costs the same
    /// whatever the number of DPs).
    pub submitted: u64,
    /// Indices of CPs that have reported.
    pub reported: Vec<u32>,
    /// The signed input set, once fixed.
    pub input_set: Option<Signed<InputSet>>,
}

/// The news an [`Request::Await`] waits for, and the answer it then gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Cloud: more than `known` tasks exist. Answered with [`Response::TaskIds`].
    Tasks {
        /// How many task ids the client already knows.
        known: u32,
    },
    /// Cloud: the task's committee is complete. Answered with [`Response::Committee`].
    Committee(TaskId),
    /// Cloud: the task has reached `phase` or a later one. Answered with [`Response::Status`].
    Phase(TaskId, Phase),
    /// Edge: the task's result is reconstructed. Answered with [`Response::Result`].
    Result(TaskId),
}

impl Until {
    fn task(&self) -> Option<TaskId> {
        match self {
            Until::Tasks { .. } => None,
            Until::Committee(t) | Until::Phase(t, _) | Until::Result(t) => Some(*t),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Until::Tasks { .. } => "await-tasks",
            Until::Committee(_) => "await-committee",
            Until::Phase(..) => "await-phase",
            Until::Result(_) => "await-result",
        }
    }
}

impl Encode for Until {
    fn encode(&self, w: &mut Writer) {
        match self {
            Until::Tasks { known } => {
                w.u8(1);
                w.u32(*known);
            }
            Until::Committee(t) => {
                w.u8(2);
                t.encode(w);
            }
            Until::Phase(t, phase) => {
                w.u8(3);
                t.encode(w);
                w.u8(phase.code());
            }
            Until::Result(t) => {
                w.u8(4);
                t.encode(w);
            }
        }
    }
}

impl Decode for Until {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match r.u8("awaited news")? {
            1 => Until::Tasks {
                known: r.u32("known tasks")?,
            },
            2 => Until::Committee(TaskId::decode(r)?),
            3 => Until::Phase(TaskId::decode(r)?, Phase::from_code(r.u8("phase")?)?),
            4 => Until::Result(TaskId::decode(r)?),
            _ => {
                return Err(CodecError::InvalidValue {
                    what: "awaited news",
                });
            }
        })
    }
}

/// A client's request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Operator → cloud: create and sign a task (only the cloud's own key may ask).
    CreateTask(TaskParams),
    /// Anyone → cloud: the ids of the open tasks (a poll that costs the same whatever the tasks'
    /// size; [`Request::GetTask`] then fetches a new one once).
    ListTasks,
    /// Anyone → cloud: one signed task.
    GetTask(TaskId),
    /// CP → cloud: Algorithm 1.
    Admit(TaskId, Signed<AdmissionRequest>),
    /// Anyone → cloud: the committee, once complete.
    GetCommittee(TaskId),
    /// DP → cloud: a bundle; answered only after it is durably stored.
    SubmitBundle(TaskId, Bundle),
    /// CP → cloud: a page of deliveries for `index`, in the order the bundles arrived, after DP
    /// `after` (the last one the CP saw).
    GetDeliveries {
        /// The task.
        task: TaskId,
        /// The CP's index.
        index: u32,
        /// Resume after this DP.
        after: Option<PartyId>,
    },
    /// CP → cloud: one DP's delivery again.
    GetDelivery {
        /// The task.
        task: TaskId,
        /// The DP.
        dp: PartyId,
        /// The CP's index.
        index: u32,
    },
    /// CP → cloud: the verification report.
    Report(TaskId, Signed<VerificationReport>),
    /// Anyone → cloud: the task's status.
    GetStatus(TaskId),
    /// Edge → cloud: the signed commitments of the input set's DPs.
    GetSummaries {
        /// The task.
        task: TaskId,
        /// The input-set position of the first summary wanted.
        from: u32,
    },
    /// DP → cloud: its entry in the task's DP list, with the Merkle proof.
    GetDpEntry {
        /// The task.
        task: TaskId,
        /// The DP.
        dp: PartyId,
    },
    /// CP, edge → cloud: the task's DP list from position `from` on (at most [`DP_LIST_PAGE`]).
    GetDpList {
        /// The task.
        task: TaskId,
        /// The list position of the first entry wanted.
        from: u64,
    },
    /// Operator → cloud: register these data providers' cards (at most [`REGISTER_PAGE`]);
    /// answered [`Response::Registered`]. Only the cloud's own key may register.
    RegisterDps(Vec<IdentityCard>),
    /// CP → edge: a result share.
    SubmitResultShare(TaskId, Signed<ResultShare>),
    /// Anyone → edge: the result, once reconstructed.
    GetResult(TaskId),
    /// CP worker → cloud: like [`Request::GetDeliveries`], but only the deliveries of the bundles
    /// in `part` (a CP that runs as several workers; see [`WorkerPart`]).
    GetPartDeliveries {
        /// The task.
        task: TaskId,
        /// The CP's index.
        index: u32,
        /// Which part.
        part: WorkerPart,
        /// Resume after this DP.
        after: Option<PartyId>,
    },
    /// CP worker → cloud: what this worker folded of `part`, sealed to the CP itself
    /// ([`dsmpc_core::roles::cp::CpTask::seal_part`]), for the group's lead.
    PutCpPart {
        /// The task.
        task: TaskId,
        /// The CP's index.
        index: u32,
        /// Which part.
        part: WorkerPart,
        /// The sealed part.
        sealed: Vec<u8>,
    },
    /// CP lead → cloud: another worker's sealed part, if it handed it in
    /// ([`Response::CpPart`]).
    GetCpPart {
        /// The task.
        task: TaskId,
        /// The CP's index.
        index: u32,
        /// Which part.
        part: WorkerPart,
    },
    /// Operator → cloud: close the task's submissions now, before its deadline (the input set is
    /// the bundles stored so far; a DP that has not submitted is left out, as at the deadline).
    /// Acknowledged once the close is durable; `Ok` too if they were already closed.
    CloseSubmissions(TaskId),
    /// Anyone → cloud or edge: the answer `until` names, as soon as it has the news `until`
    /// waits for, or after `millis` (at most [`MAX_AWAIT`]) whatever it is then. Replaces
    /// polling: a waiting client learns of the news within a round trip, and asks once per
    /// `millis` while there is none.
    Await {
        /// The longest wait, in milliseconds.
        millis: u32,
        /// The news.
        until: Until,
    },
}

/// A server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// Done (and, for submissions, durably stored).
    Ok,
    /// Refused; the text says why (never a secret).
    Refused(String),
    /// A signed task.
    Task(Signed<Task>),
    /// The ids of the tasks the cloud holds, in id order.
    TaskIds(Vec<TaskId>),
    /// An admission grant.
    Grant(Signed<AdmissionGrant>),
    /// The committee, if complete.
    Committee(Option<Signed<Committee>>),
    /// A page of deliveries (empty: no more for now).
    Deliveries(Vec<ShareDelivery>),
    /// One delivery, if stored.
    Delivery(Option<ShareDelivery>),
    /// A task's status.
    Status(Status),
    /// Signed bundle cores.
    Summaries(Vec<Signed<BundleCore>>),
    /// The result, if reconstructed.
    Result(Option<Signed<TaskResult>>),
    /// A DP's entry in the task's list, if it is listed.
    DpEntry(Option<DpEntry>),
    /// A page of the task's DP list (empty past its end).
    DpList(Vec<ListedDp>),
    /// What a [`Request::RegisterDps`] did.
    Registered {
        /// Cards newly registered.
        added: u64,
        /// Cards registered already, identically.
        already: u64,
    },
    /// The edge's answer to a result request for a task that ended without one: why, signed.
    Failed(Signed<TaskFailure>),
    /// A CP worker's sealed part, if handed in.
    CpPart(Option<Vec<u8>>),
}

fn option<T>(w: &mut Writer, value: &Option<T>, each: impl Fn(&mut Writer, &T)) {
    match value {
        Some(v) => {
            w.u8(1);
            each(w, v);
        }
        None => w.u8(0),
    }
}

fn read_option<'a, T>(
    r: &mut Reader<'a>,
    each: impl FnOnce(&mut Reader<'a>) -> Result<T, CodecError>,
) -> Result<Option<T>, CodecError> {
    match r.u8("option flag")? {
        0 => Ok(None),
        1 => Ok(Some(each(r)?)),
        _ => Err(CodecError::InvalidValue {
            what: "option flag",
        }),
    }
}

impl Encode for Request {
    fn encode(&self, w: &mut Writer) {
        match self {
            Request::CreateTask(p) => {
                w.u8(1);
                p.encode(w);
            }
            Request::ListTasks => w.u8(2),
            Request::Admit(t, r) => {
                w.u8(3);
                t.encode(w);
                r.encode(w);
            }
            Request::GetCommittee(t) => {
                w.u8(4);
                t.encode(w);
            }
            Request::SubmitBundle(t, b) => {
                w.u8(5);
                t.encode(w);
                b.encode(w);
            }
            Request::GetDeliveries { task, index, after } => {
                w.u8(6);
                task.encode(w);
                w.u32(*index);
                option(w, after, |w, p| p.encode(w));
            }
            Request::GetDelivery { task, dp, index } => {
                w.u8(7);
                task.encode(w);
                dp.encode(w);
                w.u32(*index);
            }
            Request::Report(t, r) => {
                w.u8(8);
                t.encode(w);
                r.encode(w);
            }
            Request::GetStatus(t) => {
                w.u8(9);
                t.encode(w);
            }
            Request::GetSummaries { task, from } => {
                w.u8(10);
                task.encode(w);
                w.u32(*from);
            }
            Request::SubmitResultShare(t, s) => {
                w.u8(11);
                t.encode(w);
                s.encode(w);
            }
            Request::GetResult(t) => {
                w.u8(12);
                t.encode(w);
            }
            Request::GetTask(t) => {
                w.u8(13);
                t.encode(w);
            }
            Request::Await { millis, until } => {
                w.u8(14);
                w.u32(*millis);
                until.encode(w);
            }
            Request::GetDpEntry { task, dp } => {
                w.u8(15);
                task.encode(w);
                dp.encode(w);
            }
            Request::GetDpList { task, from } => {
                w.u8(16);
                task.encode(w);
                w.u64(*from);
            }
            Request::RegisterDps(cards) => {
                w.u8(17);
                w.list(cards, |w, c| c.encode(w));
            }
            Request::GetPartDeliveries {
                task,
                index,
                part,
                after,
            } => {
                w.u8(18);
                task.encode(w);
                w.u32(*index);
                part.encode(w);
                option(w, after, |w, p| p.encode(w));
            }
            Request::PutCpPart {
                task,
                index,
                part,
                sealed,
            } => {
                w.u8(19);
                task.encode(w);
                w.u32(*index);
                part.encode(w);
                w.bytes(sealed);
            }
            Request::GetCpPart { task, index, part } => {
                w.u8(20);
                task.encode(w);
                w.u32(*index);
                part.encode(w);
            }
            Request::CloseSubmissions(task) => {
                w.u8(21);
                task.encode(w);
            }
        }
    }
}

impl Decode for Request {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match r.u8("request")? {
            1 => Request::CreateTask(TaskParams::decode(r)?),
            2 => Request::ListTasks,
            3 => Request::Admit(TaskId::decode(r)?, Signed::decode(r)?),
            4 => Request::GetCommittee(TaskId::decode(r)?),
            5 => Request::SubmitBundle(TaskId::decode(r)?, Bundle::decode(r)?),
            6 => Request::GetDeliveries {
                task: TaskId::decode(r)?,
                index: r.u32("index")?,
                after: read_option(r, PartyId::decode)?,
            },
            7 => Request::GetDelivery {
                task: TaskId::decode(r)?,
                dp: PartyId::decode(r)?,
                index: r.u32("index")?,
            },
            8 => Request::Report(TaskId::decode(r)?, Signed::decode(r)?),
            9 => Request::GetStatus(TaskId::decode(r)?),
            10 => Request::GetSummaries {
                task: TaskId::decode(r)?,
                from: r.u32("from")?,
            },
            11 => Request::SubmitResultShare(TaskId::decode(r)?, Signed::decode(r)?),
            12 => Request::GetResult(TaskId::decode(r)?),
            13 => Request::GetTask(TaskId::decode(r)?),
            14 => Request::Await {
                millis: r.u32("wait")?,
                until: Until::decode(r)?,
            },
            15 => Request::GetDpEntry {
                task: TaskId::decode(r)?,
                dp: PartyId::decode(r)?,
            },
            16 => Request::GetDpList {
                task: TaskId::decode(r)?,
                from: r.u64("from")?,
            },
            17 => Request::RegisterDps(r.list("cards", 99, IdentityCard::decode)?),
            18 => Request::GetPartDeliveries {
                task: TaskId::decode(r)?,
                index: r.u32("index")?,
                part: WorkerPart::decode(r)?,
                after: read_option(r, PartyId::decode)?,
            },
            19 => Request::PutCpPart {
                task: TaskId::decode(r)?,
                index: r.u32("index")?,
                part: WorkerPart::decode(r)?,
                sealed: r.bytes("sealed part")?.to_vec(),
            },
            20 => Request::GetCpPart {
                task: TaskId::decode(r)?,
                index: r.u32("index")?,
                part: WorkerPart::decode(r)?,
            },
            21 => Request::CloseSubmissions(TaskId::decode(r)?),
            other => return Err(CodecError::UnknownMessageType(other)),
        })
    }
}

impl Request {
    /// A short name for logs and the flow log.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::CreateTask(_) => "create-task",
            Request::ListTasks => "list-tasks",
            Request::Admit(..) => "admission-request",
            Request::GetCommittee(_) => "get-committee",
            Request::SubmitBundle(..) => "bundle",
            Request::GetDeliveries { .. } => "get-deliveries",
            Request::GetDelivery { .. } => "get-delivery",
            Request::Report(..) => "verification-report",
            Request::GetStatus(_) => "get-status",
            Request::GetSummaries { .. } => "get-summaries",
            Request::SubmitResultShare(..) => "result-share",
            Request::GetResult(_) => "get-result",
            Request::GetTask(_) => "get-task",
            Request::GetDpEntry { .. } => "get-dp-entry",
            Request::GetDpList { .. } => "get-dp-list",
            Request::RegisterDps(_) => "register-dps",
            Request::GetPartDeliveries { .. } => "get-part-deliveries",
            Request::PutCpPart { .. } => "put-cp-part",
            Request::GetCpPart { .. } => "get-cp-part",
            Request::CloseSubmissions(_) => "close-submissions",
            Request::Await { until, .. } => until.kind(),
        }
    }

    /// The task the request concerns, if any.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Request::CreateTask(_) | Request::ListTasks | Request::RegisterDps(_) => None,
            Request::Admit(t, _)
            | Request::GetCommittee(t)
            | Request::SubmitBundle(t, _)
            | Request::Report(t, _)
            | Request::GetStatus(t)
            | Request::SubmitResultShare(t, _)
            | Request::GetResult(t)
            | Request::CloseSubmissions(t)
            | Request::GetTask(t) => Some(*t),
            Request::GetDeliveries { task, .. }
            | Request::GetPartDeliveries { task, .. }
            | Request::PutCpPart { task, .. }
            | Request::GetCpPart { task, .. }
            | Request::GetDelivery { task, .. }
            | Request::GetSummaries { task, .. }
            | Request::GetDpEntry { task, .. }
            | Request::GetDpList { task, .. } => Some(*task),
            Request::Await { until, .. } => until.task(),
        }
    }

    /// Decodes exactly one request.
    pub fn from_bytes(bytes: &[u8]) -> Result<Request, CodecError> {
        decode_exact(bytes)
    }
}

impl Encode for Status {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.phase.code());
        w.u64(self.submitted);
        w.list(&self.reported, |w, i| w.u32(*i));
        option(w, &self.input_set, |w, s| s.encode(w));
    }
}

impl Decode for Status {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Status {
            phase: Phase::from_code(r.u8("phase")?)?,
            submitted: r.u64("submitted")?,
            reported: r.list("reported", 4, |r| r.u32("index"))?,
            input_set: read_option(r, Signed::decode)?,
        })
    }
}

impl Encode for Response {
    fn encode(&self, w: &mut Writer) {
        match self {
            Response::Ok => w.u8(1),
            Response::Refused(reason) => {
                w.u8(2);
                w.bytes(reason.as_bytes());
            }
            Response::Task(t) => {
                w.u8(3);
                t.encode(w);
            }
            Response::TaskIds(ids) => {
                w.u8(4);
                w.list(ids, |w, t| t.encode(w));
            }
            Response::Grant(g) => {
                w.u8(5);
                g.encode(w);
            }
            Response::Committee(c) => {
                w.u8(6);
                option(w, c, |w, c| c.encode(w));
            }
            Response::Deliveries(ds) => {
                w.u8(7);
                w.list(ds, |w, d| d.encode(w));
            }
            Response::Delivery(d) => {
                w.u8(8);
                option(w, d, |w, d| d.encode(w));
            }
            Response::Status(s) => {
                w.u8(9);
                s.encode(w);
            }
            Response::Summaries(ss) => {
                w.u8(10);
                w.list(ss, |w, s| s.encode(w));
            }
            Response::Result(r) => {
                w.u8(11);
                option(w, r, |w, r| r.encode(w));
            }
            Response::DpEntry(e) => {
                w.u8(12);
                option(w, e, |w, e| e.encode(w));
            }
            Response::DpList(list) => {
                w.u8(13);
                encode_listed_dps(w, list);
            }
            Response::Registered { added, already } => {
                w.u8(14);
                w.u64(*added);
                w.u64(*already);
            }
            Response::Failed(failure) => {
                w.u8(15);
                failure.encode(w);
            }
            Response::CpPart(part) => {
                w.u8(16);
                option(w, part, |w, p| w.bytes(p));
            }
        }
    }
}

impl Decode for Response {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match r.u8("response")? {
            1 => Response::Ok,
            2 => Response::Refused(
                std::str::from_utf8(r.bytes("reason")?)
                    .map_err(|_| CodecError::InvalidValue { what: "reason" })?
                    .to_owned(),
            ),
            3 => Response::Task(Signed::decode(r)?),
            4 => Response::TaskIds(r.list("task ids", 16, TaskId::decode)?),
            5 => Response::Grant(Signed::decode(r)?),
            6 => Response::Committee(read_option(r, Signed::decode)?),
            7 => Response::Deliveries(r.list("deliveries", 1, ShareDelivery::decode)?),
            8 => Response::Delivery(read_option(r, ShareDelivery::decode)?),
            9 => Response::Status(Status::decode(r)?),
            10 => Response::Summaries(r.list("summaries", 1, Signed::decode)?),
            11 => Response::Result(read_option(r, Signed::decode)?),
            12 => Response::DpEntry(read_option(r, DpEntry::decode)?),
            13 => Response::DpList(decode_listed_dps(r)?),
            14 => Response::Registered {
                added: r.u64("added")?,
                already: r.u64("already")?,
            },
            15 => Response::Failed(Signed::decode(r)?),
            16 => Response::CpPart(read_option(r, |r| Ok(r.bytes("sealed part")?.to_vec()))?),
            other => return Err(CodecError::UnknownMessageType(other)),
        })
    }
}

impl Response {
    /// A short name for logs and the flow log.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Ok => "ok",
            Response::Refused(_) => "refused",
            Response::Task(_) => "task",
            Response::TaskIds(_) => "task-ids",
            Response::Grant(_) => "admission-grant",
            Response::Committee(_) => "committee",
            Response::Deliveries(_) => "share-deliveries",
            Response::Delivery(_) => "share-delivery",
            Response::Status(_) => "status",
            Response::Summaries(_) => "bundle-summaries",
            Response::Result(_) => "task-result",
            Response::DpEntry(_) => "dp-entry",
            Response::DpList(_) => "dp-list",
            Response::Registered { .. } => "registered",
            Response::Failed(_) => "failed",
            Response::CpPart(_) => "cp-part",
        }
    }

    /// Decodes exactly one response.
    pub fn from_bytes(bytes: &[u8]) -> Result<Response, CodecError> {
        decode_exact(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo fuzz run rpc_response`: a lossy decode accepted bytes that re-encode
    /// differently.
    #[test]
    fn a_refusal_reason_must_be_utf8() {
        assert_eq!(
            Response::from_bytes(&[2, 1, 0, 0, 0, 0xff]),
            Err(CodecError::InvalidValue { what: "reason" })
        );
        let ok = Response::Refused("no".into());
        assert_eq!(Response::from_bytes(&ok.to_bytes()).unwrap(), ok);
    }

    /// The requests and answer of CP worker groups round-trip; a part numbered outside its
    /// group is refused by the decoder.
    #[test]
    fn worker_part_messages_round_trip_and_bad_parts_are_refused() {
        let part = WorkerPart::new(2, 3).unwrap();
        let task = TaskId([5; 16]);
        for request in [
            Request::GetPartDeliveries {
                task,
                index: 1,
                part,
                after: Some(PartyId::new("dp3").unwrap()),
            },
            Request::PutCpPart {
                task,
                index: 2,
                part,
                sealed: vec![1, 2, 3],
            },
            Request::GetCpPart {
                task,
                index: 3,
                part,
            },
            Request::CloseSubmissions(task),
        ] {
            assert_eq!(Request::from_bytes(&request.to_bytes()).unwrap(), request);
            assert_eq!(request.task(), Some(task));
        }
        for response in [Response::CpPart(None), Response::CpPart(Some(vec![9; 40]))] {
            assert_eq!(
                Response::from_bytes(&response.to_bytes()).unwrap(),
                response
            );
        }
        let good = Request::GetCpPart {
            task,
            index: 3,
            part,
        }
        .to_bytes();
        // The part's two u32s are the last 8 bytes: worker 0, and worker 4 of 3.
        for (worker, workers) in [(0u32, 3u32), (4, 3), (1, 0)] {
            let mut bad = good.clone();
            let at = bad.len() - 8;
            bad[at..at + 4].copy_from_slice(&worker.to_le_bytes());
            bad[at + 4..].copy_from_slice(&workers.to_le_bytes());
            assert_eq!(
                Request::from_bytes(&bad),
                Err(CodecError::InvalidValue {
                    what: "worker part"
                })
            );
        }
    }

    #[test]
    fn requests_round_trip_and_refuse_trailing_bytes() {
        let request = Request::GetDeliveries {
            task: TaskId([3; 16]),
            index: 2,
            after: Some(PartyId::new("dp7").unwrap()),
        };
        let mut bytes = request.to_bytes();
        assert_eq!(Request::from_bytes(&bytes).unwrap(), request);
        bytes.push(0);
        assert_eq!(
            Request::from_bytes(&bytes),
            Err(CodecError::TrailingBytes { count: 1 })
        );
        assert_eq!(
            Request::from_bytes(&[99]),
            Err(CodecError::UnknownMessageType(99))
        );
    }

    #[test]
    fn waits_round_trip_and_refuse_unknown_news_and_phases() {
        let task = TaskId([7; 16]);
        for until in [
            Until::Tasks { known: 3 },
            Until::Committee(task),
            Until::Phase(task, Phase::Aggregating),
            Until::Result(task),
        ] {
            let request = Request::Await {
                millis: 2500,
                until: until.clone(),
            };
            let bytes = request.to_bytes();
            assert_eq!(&bytes[..5], &[14, 0xc4, 0x09, 0, 0]);
            assert_eq!(Request::from_bytes(&bytes).unwrap(), request);
            assert_eq!(request.task(), until.task());
            assert!(request.kind().starts_with("await-"));
            assert_eq!(
                Request::from_bytes(&bytes[..bytes.len() - 1]).map(|_| ()),
                Err(CodecError::Truncated {
                    what: match until {
                        Until::Tasks { .. } => "known tasks",
                        Until::Phase(..) => "phase",
                        _ => "task id",
                    },
                    needed: match until {
                        Until::Tasks { .. } => 4,
                        Until::Phase(..) => 1,
                        _ => 16,
                    },
                    remaining: match until {
                        Until::Tasks { .. } => 3,
                        Until::Phase(..) => 0,
                        _ => 15,
                    },
                })
            );
        }
        assert_eq!(
            Request::from_bytes(&[14, 0, 0, 0, 0, 9]),
            Err(CodecError::InvalidValue {
                what: "awaited news"
            })
        );
        let mut bad_phase = Request::Await {
            millis: 1,
            until: Until::Phase(task, Phase::Collecting),
        }
        .to_bytes();
        *bad_phase.last_mut().unwrap() = 5;
        assert_eq!(
            Request::from_bytes(&bad_phase),
            Err(CodecError::InvalidValue { what: "phase" })
        );
    }

    #[test]
    fn a_wait_is_cut_to_the_longest_a_server_holds_one() {
        assert_eq!(await_limit(0), std::time::Duration::ZERO);
        assert_eq!(await_limit(250), std::time::Duration::from_millis(250));
        assert_eq!(await_limit(u32::MAX), MAX_AWAIT);
    }

    #[test]
    fn polls_cost_the_same_whatever_the_number_of_dps() {
        let ids = Response::TaskIds(vec![TaskId([1; 16]), TaskId([2; 16])]);
        assert_eq!(ids.to_bytes().len(), 1 + 4 + 32);
        assert_eq!(Response::from_bytes(&ids.to_bytes()).unwrap(), ids);
        let status = Response::Status(Status {
            phase: Phase::Collecting,
            submitted: 100_000,
            reported: vec![1, 2],
            input_set: None,
        });
        assert_eq!(status.to_bytes().len(), 1 + 1 + 8 + 4 + 8 + 1);
        assert_eq!(Response::from_bytes(&status.to_bytes()).unwrap(), status);
        let get = Request::GetTask(TaskId([3; 16]));
        assert_eq!(Request::from_bytes(&get.to_bytes()).unwrap(), get);
        assert_eq!(
            Request::from_bytes(&[13, 0]),
            Err(CodecError::Truncated {
                what: "task id",
                needed: 16,
                remaining: 1
            })
        );
    }

    #[test]
    fn the_bundle_bytes_inside_an_upload_are_the_bundles_encoding() {
        use dsmpc_core::round2::BundleCore;
        let bundle = Bundle {
            core: Signed {
                signer: PartyId::new("dp1").unwrap(),
                body: BundleCore {
                    commitments: vec![[1; 32]],
                    digests: vec![[2; 32], [3; 32]],
                    validity: vec![6; 3],
                },
                signature: ed25519_dalek::Signature::from_bytes(&[4; 64]),
            },
            shares: Vec::new(),
        };
        let upload = Request::SubmitBundle(TaskId([5; 16]), bundle.clone()).to_bytes();
        assert_eq!(take_bundle_bytes(upload), Some(bundle.to_bytes()));
        assert_eq!(take_bundle_bytes(Request::ListTasks.to_bytes()), None);
        assert_eq!(take_bundle_bytes(Vec::new()), None);
    }
}
