//! Algorithm 1: every check the cloud makes on a CP's admission request, each with its own refusal.

use std::sync::Arc;

use dsmpc_core::Error;
use dsmpc_core::crypto::kem;
use dsmpc_core::encoding::{Encoding, InputRange};
use dsmpc_core::error::AdmissionRefusal;
use dsmpc_core::identity::{PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::roles::cloud::Cloud;
use dsmpc_core::roles::cp::{admission_request, read_grant};
use dsmpc_core::round1::TOKEN_PURPOSE;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode, TaskId, TaskParams};
use dsmpc_core::wire::seal_context;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

const NOW: u64 = 1_700_000_000;

struct World {
    roster: Arc<Roster>,
    cloud: Cloud,
    cps: Vec<Arc<SecretIdentity>>,
    dp: Arc<SecretIdentity>,
    outsider: Arc<SecretIdentity>,
    task: TaskId,
    rng: ChaCha20Rng,
}

fn id(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

fn world(n: u32) -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut make = |name: &str, role| Arc::new(SecretIdentity::generate(id(name), role, &mut rng));
    let cloud_id = make("cloud", Role::Cloud);
    let edge = make("edge", Role::Edge);
    let cps: Vec<_> = (1..=4).map(|i| make(&format!("cp{i}"), Role::Cp)).collect();
    let dp = make("dp1", Role::Dp);
    let outsider = make("cp9", Role::Cp);
    let cards = [&cloud_id, &edge]
        .into_iter()
        .chain(&cps)
        .map(|p| p.card().clone());
    let roster = Arc::new(Roster::new(cards).unwrap());
    let mut cloud = Cloud::new(cloud_id, roster.clone(), 60);
    let params = TaskParams {
        function: Function::Sum,
        dim: 1,
        encoding: Encoding::Exact {
            input_scale: 0,
            weight_scale: 0,
            range: InputRange::new(0, 10).unwrap(),
        },
        weights: vec![(id("dp1"), 1)],
        n,
        t: n.min(2),
        additive: false,
        mode: Mode::Verifiable,
        admission_deadline: 0,
        submission_deadline: 0,
        validate: false,
    };
    let keys = vec![dp.card().verifying_key.to_bytes()];
    let task = cloud.create_task(params, keys, &mut rng).unwrap().body.id;
    World {
        roster,
        cloud,
        cps,
        dp,
        outsider,
        task,
        rng,
    }
}

fn refusal(result: Result<dsmpc_core::roles::cloud::Admission, Error>) -> AdmissionRefusal {
    match result {
        Err(Error::AdmissionRefused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_valid_request_is_admitted_with_the_next_index() {
    let mut w = world(3);
    for (i, cp) in w.cps[..3].iter().enumerate() {
        let req = admission_request(cp, &w.roster, &w.task, NOW, &mut w.rng);
        let admission = w.cloud.admit(&w.task, &req, NOW + 5, &mut w.rng).unwrap();
        assert_eq!(
            read_grant(cp, &w.roster, &w.task, &admission.grant).unwrap(),
            i as u32 + 1
        );
        assert_eq!(
            admission.committee.is_some(),
            i == 2,
            "the committee is signed when full"
        );
    }
    let committee = w.cloud.committee(&w.task).unwrap().unwrap();
    let ids: Vec<&str> = committee
        .body
        .members
        .iter()
        .map(|m| m.card.id.as_str())
        .collect();
    assert_eq!(ids, vec!["cp1", "cp2", "cp3"]);
}

#[test]
fn a_grant_is_readable_only_by_its_cp() {
    let mut w = world(3);
    let req = admission_request(&w.cps[0], &w.roster, &w.task, NOW, &mut w.rng);
    let grant = w.cloud.admit(&w.task, &req, NOW, &mut w.rng).unwrap().grant;
    assert!(matches!(
        read_grant(&w.cps[1], &w.roster, &w.task, &grant),
        Err(Error::Crypto {
            what: "admission grant",
            ..
        })
    ));
}

#[test]
fn unknown_vid_is_refused() {
    let mut w = world(3);
    // cp9 has keys but is not in the roster; dp1 is in the roster but not a CP.
    for stranger in [w.outsider.clone(), w.dp.clone()] {
        let req = admission_request(&stranger, &w.roster, &w.task, NOW, &mut w.rng);
        assert_eq!(
            refusal(w.cloud.admit(&w.task, &req, NOW, &mut w.rng)),
            AdmissionRefusal::UnknownVid
        );
    }
}

#[test]
fn bad_signature_is_refused() {
    let mut w = world(3);
    let mut req = admission_request(&w.cps[0], &w.roster, &w.task, NOW, &mut w.rng);
    req.body.timestamp += 1; // the signature no longer covers the body
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &req, NOW, &mut w.rng)),
        AdmissionRefusal::BadSignature
    );
    // A request signed by cp2 but claiming to be from cp1.
    let mut forged = admission_request(&w.cps[1], &w.roster, &w.task, NOW, &mut w.rng);
    forged.signer = id("cp1");
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &forged, NOW, &mut w.rng)),
        AdmissionRefusal::BadSignature
    );
    // A request signed for another task.
    let other = admission_request(&w.cps[0], &w.roster, &TaskId([9; 16]), NOW, &mut w.rng);
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &other, NOW, &mut w.rng)),
        AdmissionRefusal::BadSignature
    );
}

#[test]
fn token_that_does_not_decrypt_to_the_vid_is_refused() {
    let mut w = world(3);
    let cp = w.cps[0].clone();
    let cloud_card = w.roster.cloud().clone();
    // A correctly signed request whose token encrypts cp2's VID.
    let context = seal_context(
        TOKEN_PURPOSE,
        &w.task,
        (cp.id(), Role::Cp),
        (&cloud_card.id, Role::Cloud),
        0,
    );
    let mut req = admission_request(&cp, &w.roster, &w.task, NOW, &mut w.rng).body;
    req.token = kem::seal(&cloud_card.kem_key, &context, b"cp2", &mut w.rng);
    let signed = Signed::sign(&w.task, &cp, req.clone());
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &signed, NOW, &mut w.rng)),
        AdmissionRefusal::TokenMismatch
    );
    // A token sealed to someone other than the cloud.
    req.token = kem::seal(&cp.card().kem_key, &context, b"cp1", &mut w.rng);
    let signed = Signed::sign(&w.task, &cp, req);
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &signed, NOW, &mut w.rng)),
        AdmissionRefusal::TokenMismatch
    );
}

#[test]
fn timestamps_outside_the_window_are_refused() {
    let mut w = world(3);
    for ts in [NOW - 61, NOW + 61] {
        let req = admission_request(&w.cps[0], &w.roster, &w.task, ts, &mut w.rng);
        assert_eq!(
            refusal(w.cloud.admit(&w.task, &req, NOW, &mut w.rng)),
            AdmissionRefusal::StaleTimestamp
        );
    }
    let req = admission_request(&w.cps[0], &w.roster, &w.task, NOW - 60, &mut w.rng);
    assert!(
        w.cloud.admit(&w.task, &req, NOW, &mut w.rng).is_ok(),
        "the window is inclusive"
    );
}

/// The D-SMPC prototype admitted one replayed request three times, with indices 1, 2, 3.
#[test]
fn a_replayed_request_is_refused() {
    let mut w = world(3);
    let req = admission_request(&w.cps[0], &w.roster, &w.task, NOW, &mut w.rng);
    w.cloud.admit(&w.task, &req, NOW, &mut w.rng).unwrap();
    for _ in 0..2 {
        assert_eq!(
            refusal(w.cloud.admit(&w.task, &req, NOW, &mut w.rng)),
            AdmissionRefusal::ReplayedNonce
        );
    }
}

#[test]
fn a_second_admission_of_the_same_vid_is_refused() {
    let mut w = world(3);
    let first = admission_request(&w.cps[0], &w.roster, &w.task, NOW, &mut w.rng);
    w.cloud.admit(&w.task, &first, NOW, &mut w.rng).unwrap();
    let fresh = admission_request(&w.cps[0], &w.roster, &w.task, NOW, &mut w.rng);
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &fresh, NOW, &mut w.rng)),
        AdmissionRefusal::AlreadyAdmitted
    );
}

#[test]
fn a_full_committee_admits_no_more() {
    let mut w = world(2);
    for cp in &w.cps[..2] {
        let req = admission_request(cp, &w.roster, &w.task, NOW, &mut w.rng);
        w.cloud.admit(&w.task, &req, NOW, &mut w.rng).unwrap();
    }
    let late = admission_request(&w.cps[2], &w.roster, &w.task, NOW, &mut w.rng);
    assert_eq!(
        refusal(w.cloud.admit(&w.task, &late, NOW, &mut w.rng)),
        AdmissionRefusal::CommitteeFull
    );
}

#[test]
fn an_unknown_task_is_an_error() {
    let mut w = world(2);
    let req = admission_request(&w.cps[0], &w.roster, &TaskId([1; 16]), NOW, &mut w.rng);
    let err = w
        .cloud
        .admit(&TaskId([1; 16]), &req, NOW, &mut w.rng)
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTask { .. }), "{err}");
}
