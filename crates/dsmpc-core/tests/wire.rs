//! Every message kind on the wire: round trips, strict decoding (truncation, padding, unknown
//! versions and kinds) and pinned encodings (insta snapshots of a deterministic run).

mod common;

use common::{KINDS, sample_run};
use dsmpc_core::codec::{CodecError, Encode};
use dsmpc_core::wire::Envelope;

#[test]
fn every_kind_round_trips() {
    let run = sample_run();
    for kind in KINDS {
        let bytes = &run.samples[kind];
        let envelope = Envelope::from_bytes(bytes).unwrap();
        assert_eq!(envelope.message.kind(), kind);
        assert_eq!(&envelope.to_bytes(), bytes, "{kind} re-encodes identically");
    }
}

#[test]
fn truncated_frames_are_refused() {
    let run = sample_run();
    for kind in KINDS {
        let bytes = &run.samples[kind];
        // Every prefix of small messages; a spread of prefixes of large ones.
        let step = (bytes.len() / 200).max(1);
        for len in (0..bytes.len()).step_by(step) {
            let err = Envelope::from_bytes(&bytes[..len]).unwrap_err();
            assert!(
                matches!(
                    err,
                    CodecError::Truncated { .. } | CodecError::InvalidValue { .. }
                ),
                "{kind} cut at {len}: {err}"
            );
        }
    }
}

#[test]
fn padded_frames_are_refused() {
    let run = sample_run();
    for kind in KINDS {
        let mut bytes = run.samples[kind].clone();
        bytes.push(0);
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(CodecError::TrailingBytes { count: 1 }),
            "{kind}"
        );
    }
}

#[test]
fn unknown_versions_and_kinds_are_refused() {
    let run = sample_run();
    let mut bytes = run.samples["task"].clone();
    // Version 1 (whose task listed every DP), version 2 (whose DP list named no keys), version 3
    // (whose input sets, reports and results listed ids), version 4 (whose tasks, bundles and
    // reports had no range validation), version 5 (whose fast tasks could not validate inputs)
    // and a future version 7 are all refused.
    for other in [1, 2, 3, 4, 5, 7] {
        bytes[0] = other;
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(CodecError::UnknownVersion(other))
        );
    }
    bytes[0] = 6;
    bytes[1] = 99;
    assert_eq!(
        Envelope::from_bytes(&bytes),
        Err(CodecError::UnknownMessageType(99))
    );
    // A valid body under another kind's code does not decode as that kind.
    bytes[1] = 4;
    assert!(Envelope::from_bytes(&bytes).is_err());
}

#[test]
fn a_task_naming_another_field_is_refused() {
    let run = sample_run();
    let mut bytes = run.samples["task"].clone();
    // The task body ends with the field code, followed by the 64-byte signature.
    let field_at = bytes.len() - 65;
    assert_eq!(bytes[field_at], 3, "ristretto255");
    bytes[field_at] = 2;
    assert_eq!(
        Envelope::from_bytes(&bytes),
        Err(CodecError::InvalidValue { what: "task field" })
    );
}

#[test]
fn encodings_are_pinned() {
    let run = sample_run();
    for kind in KINDS {
        let hex: String = run.samples[kind]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let lines: Vec<&str> = hex
            .as_bytes()
            .chunks(128)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        insta::assert_snapshot!(kind, lines.join("\n"));
    }
}
