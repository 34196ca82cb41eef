//! What the parties other than the cloud keep so that `kill -9` costs them nothing acknowledged.
//!
//! * A **CP** records, per task, how far it got ([`CpStage`]), the DP after which it resumes
//!   pulling deliveries, and its state (running aggregate, accepted DPs, complaints) sealed to its
//!   own KEM key by `dsmpc_core::roles::cp::CpTask::seal_state`. The store sees only bytes.
//! * The **edge** records each result share before it acknowledges it, and each failure it
//!   signs, so a restarted edge still reconstructs from the shares it had, and still answers with
//!   the failure it published.

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// How far a CP got with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpStage {
    /// Pulling and verifying deliveries; the state holds what was folded in so far.
    Receiving,
    /// The verification report was sent (and acknowledged, or overtaken by the input set).
    Reported,
    /// The result share was acknowledged by the edge: nothing is left to do.
    Done,
}

impl CpStage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CpStage::Receiving => "receiving",
            CpStage::Reported => "reported",
            CpStage::Done => "done",
        }
    }
}

impl fmt::Display for CpStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CpStage {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<CpStage, StoreError> {
        match s {
            "receiving" => Ok(CpStage::Receiving),
            "reported" => Ok(CpStage::Reported),
            "done" => Ok(CpStage::Done),
            _ => Err(StoreError::Corrupt(format!("unknown CP stage {s:?}"))),
        }
    }
}

/// A CP's record of one task.
#[derive(Clone, PartialEq, Eq)]
pub struct CpTaskState {
    /// How far it got.
    pub stage: CpStage,
    /// The DP whose delivery was the last one taken in (pages resume after it).
    pub cursor: Option<String>,
    /// The sealed state; `None` once the task is done.
    pub sealed: Option<Vec<u8>>,
}

impl fmt::Debug for CpTaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpTaskState")
            .field("stage", &self.stage)
            .field("cursor", &self.cursor)
            .field("sealed_bytes", &self.sealed.as_ref().map(Vec::len))
            .finish()
    }
}

impl Store {
    /// Records a CP's state of `task`, replacing the previous record, in one committed
    /// transaction. A task recorded as done stays done (a later record is ignored).
    pub fn put_cp_task(&mut self, task: &[u8; 16], state: &CpTaskState) -> Result<(), StoreError> {
        if (state.stage == CpStage::Done) != state.sealed.is_none() {
            return Err(StoreError::Corrupt(format!(
                "a CP record in stage {} {} sealed state",
                state.stage,
                if state.sealed.is_some() {
                    "may not hold"
                } else {
                    "must hold"
                }
            )));
        }
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO cp_tasks (task, stage, cursor, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (task) DO UPDATE SET stage = ?2, cursor = ?3, state = ?4
             WHERE cp_tasks.stage <> 'done'",
            params![
                task,
                state.stage.as_str(),
                state.cursor.as_deref(),
                state.sealed.as_deref()
            ],
        )?;
        Ok(tx.commit()?)
    }

    /// A CP's record of `task`, if it has one.
    pub fn cp_task(&self, task: &[u8; 16]) -> Result<Option<CpTaskState>, StoreError> {
        let row: Option<(String, Option<String>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT stage, cursor, state FROM cp_tasks WHERE task = ?1",
                [task],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(stage, cursor, sealed)| {
            Ok(CpTaskState {
                stage: stage.parse()?,
                cursor,
                sealed,
            })
        })
        .transpose()
    }

    /// Records `cp`'s result share of `task` (encoded, signed) in one committed transaction.
    /// Returns `false`, changing nothing, when a share of this CP is recorded already: the
    /// first one stands.
    pub fn put_result_share(
        &mut self,
        task: &[u8; 16],
        cp: &str,
        body: &[u8],
    ) -> Result<bool, StoreError> {
        let tx = self.write()?;
        let added = tx.execute(
            "INSERT INTO result_shares (task, cp, body) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![task, cp, body],
        )?;
        tx.commit()?;
        Ok(added == 1)
    }

    /// The result shares recorded for `task`, in the order of the CPs' ids.
    pub fn result_shares(&self, task: &[u8; 16]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM result_shares WHERE task = ?1 ORDER BY cp")?;
        let rows = stmt.query_map([task], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that `task` failed (the encoded signed failure). Written once: recording a
    /// failure again keeps the first.
    pub fn put_failure(&mut self, task: &[u8; 16], body: &[u8]) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO failures (task, body) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![task, body],
        )?;
        Ok(tx.commit()?)
    }

    /// The recorded failure of `task`, if any.
    pub fn failure(&self, task: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT body FROM failures WHERE task = ?1", [task], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiving(cursor: &str, sealed: &[u8]) -> CpTaskState {
        CpTaskState {
            stage: CpStage::Receiving,
            cursor: Some(cursor.into()),
            sealed: Some(sealed.to_vec()),
        }
    }

    #[test]
    fn a_cp_record_survives_reopening_and_done_stays_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp1.db");
        let task = [7; 16];
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.cp_task(&task).unwrap(), None);
            store.put_cp_task(&task, &receiving("dp3", b"one")).unwrap();
            store.put_cp_task(&task, &receiving("dp9", b"two")).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(
            store.cp_task(&task).unwrap(),
            Some(receiving("dp9", b"two"))
        );
        let done = CpTaskState {
            stage: CpStage::Done,
            cursor: None,
            sealed: None,
        };
        store.put_cp_task(&task, &done).unwrap();
        store.put_cp_task(&task, &receiving("dp1", b"x")).unwrap();
        assert_eq!(store.cp_task(&task).unwrap(), Some(done));
    }

    #[test]
    fn a_cp_record_must_hold_state_exactly_until_done() {
        let mut store = Store::open_in_memory().unwrap();
        let no_state = CpTaskState {
            stage: CpStage::Reported,
            cursor: None,
            sealed: None,
        };
        let err = store.put_cp_task(&[1; 16], &no_state).unwrap_err();
        assert!(err.to_string().contains("must hold sealed state"), "{err}");
        let done_with_state = CpTaskState {
            stage: CpStage::Done,
            cursor: None,
            sealed: Some(vec![1]),
        };
        let err = store.put_cp_task(&[1; 16], &done_with_state).unwrap_err();
        assert!(err.to_string().contains("may not hold"), "{err}");
        assert_eq!(store.cp_task(&[1; 16]).unwrap(), None);
    }

    #[test]
    fn the_first_result_share_of_a_cp_stands() {
        let mut store = Store::open_in_memory().unwrap();
        let task = [2; 16];
        assert!(store.put_result_share(&task, "cp2", b"a").unwrap());
        assert!(!store.put_result_share(&task, "cp2", b"b").unwrap());
        assert!(store.put_result_share(&task, "cp1", b"c").unwrap());
        assert!(store.put_result_share(&[3; 16], "cp1", b"d").unwrap());
        assert_eq!(
            store.result_shares(&task).unwrap(),
            vec![b"c".to_vec(), b"a".to_vec()]
        );
    }

    #[test]
    fn a_failure_is_written_once() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.failure(&[4; 16]).unwrap(), None);
        store.put_failure(&[4; 16], b"first").unwrap();
        store.put_failure(&[4; 16], b"second").unwrap();
        assert_eq!(store.failure(&[4; 16]).unwrap(), Some(b"first".to_vec()));
    }

    #[test]
    fn an_unknown_stage_is_corruption_not_a_panic() {
        let store = Store::open_in_memory().unwrap();
        store
            .conn
            .execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
        store
            .conn
            .execute(
                "INSERT INTO cp_tasks (task, stage, cursor, state) VALUES (?1, 'lost', NULL, x'00')",
                [[5u8; 16]],
            )
            .unwrap();
        let err = store.cp_task(&[5; 16]).unwrap_err();
        assert!(err.to_string().contains("unknown CP stage"), "{err}");
    }
}
