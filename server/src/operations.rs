//! Long operations run in the background with progress anyone can read (`GET /api/operations`)
//! and a cancel (`DELETE /api/operations/{id}`). Other requests never wait for them.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hakuriver_model::operation::{percent, Operation, OperationState};
use tokio::sync::watch;

/// Finished operations kept for reading.
const KEEP_FINISHED: usize = 200;

struct Entry {
    op: Operation,
    abort: Option<tokio::task::AbortHandle>,
    done: watch::Sender<bool>,
}

#[derive(Clone, Default)]
pub struct Operations {
    entries: Arc<Mutex<BTreeMap<u64, Entry>>>,
    next: Arc<AtomicU64>,
}

/// The handle a running operation reports progress through.
#[derive(Clone)]
pub struct Progress {
    ops: Operations,
    id: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error("operation {0} not found")]
    NotFound(u64),
    #[error("operation {0} already finished")]
    Finished(u64),
}

impl Operations {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, Entry>) -> R) -> R {
        f(&mut self.entries.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Starts `work` in the background; returns its id and a receiver that turns true when done.
    pub fn start<F>(&self, kind: &str, target: &str, work: impl FnOnce(Progress) -> F) -> (u64, watch::Receiver<bool>)
    where
        F: Future<Output = Result<serde_json::Value, String>> + Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (done, done_rx) = watch::channel(false);
        let op = Operation {
            id,
            kind: kind.into(),
            target: target.into(),
            phase: "starting".into(),
            bytes: 0,
            total_bytes: None,
            percent: None,
            state: OperationState::Running,
            error: None,
            result: None,
        };
        self.with(|e| {
            e.insert(id, Entry { op, abort: None, done });
            while e.len() > KEEP_FINISHED {
                let Some(oldest) = e.iter().find(|(_, x)| x.op.state != OperationState::Running).map(|(k, _)| *k)
                else {
                    break;
                };
                e.remove(&oldest);
            }
        });
        let fut = work(Progress { ops: self.clone(), id });
        let ops = self.clone();
        let task = tokio::spawn(async move {
            let outcome = fut.await;
            ops.finish(id, outcome);
        });
        self.with(|e| {
            if let Some(entry) = e.get_mut(&id) {
                entry.abort = Some(task.abort_handle());
            }
        });
        (id, done_rx)
    }

    fn finish(&self, id: u64, outcome: Result<serde_json::Value, String>) {
        self.with(|e| {
            if let Some(entry) = e.get_mut(&id) {
                match outcome {
                    Ok(result) => {
                        entry.op.state = OperationState::Succeeded;
                        entry.op.phase = "done".into();
                        entry.op.percent = Some(100.0);
                        entry.op.result = Some(result);
                    }
                    Err(error) => {
                        entry.op.state = OperationState::Failed;
                        entry.op.error = Some(error);
                    }
                }
                entry.abort = None;
                let _ = entry.done.send(true);
            }
        });
    }

    pub fn get(&self, id: u64) -> Option<Operation> {
        self.with(|e| e.get(&id).map(|x| x.op.clone()))
    }

    pub fn list(&self) -> Vec<Operation> {
        self.with(|e| e.values().rev().map(|x| x.op.clone()).collect())
    }

    /// Stops a running operation; what it wrote is cleaned up by its own drop guards.
    pub fn cancel(&self, id: u64) -> Result<Operation, OperationError> {
        self.with(|e| {
            let entry = e.get_mut(&id).ok_or(OperationError::NotFound(id))?;
            if entry.op.state != OperationState::Running {
                return Err(OperationError::Finished(id));
            }
            if let Some(abort) = entry.abort.take() {
                abort.abort();
            }
            entry.op.state = OperationState::Cancelled;
            entry.op.phase = "cancelled".into();
            let _ = entry.done.send(true);
            Ok(entry.op.clone())
        })
    }
}

impl Progress {
    fn update(&self, f: impl FnOnce(&mut Operation)) {
        self.ops.with(|e| {
            if let Some(entry) = e.get_mut(&self.id) {
                f(&mut entry.op);
                entry.op.percent = percent(entry.op.bytes, entry.op.total_bytes);
            }
        });
    }

    pub fn phase(&self, phase: &str, total_bytes: Option<u64>) {
        self.update(|op| {
            op.phase = phase.into();
            op.bytes = 0;
            op.total_bytes = total_bytes;
        });
    }

    pub fn add_bytes(&self, n: u64) {
        self.update(|op| op.bytes += n);
    }

    /// Sets bytes done and the total as they are now (a pull learns its total as it goes).
    pub fn set_bytes(&self, bytes: u64, total_bytes: Option<u64>) {
        self.update(|op| {
            op.bytes = bytes;
            op.total_bytes = total_bytes;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_success_failure_and_cancel() {
        let ops = Operations::default();
        let (ok, mut done) = ops.start("create_tar", "env", |p| async move {
            p.phase("saving", Some(10));
            p.add_bytes(5);
            Ok(serde_json::json!({"tarball_path": "/x"}))
        });
        let _ = done.wait_for(|d| *d).await;
        let op = ops.get(ok).unwrap();
        assert_eq!((op.state, op.percent), (OperationState::Succeeded, Some(100.0)));

        let (failed, mut done) = ops.start("import", "env", |_| async { Err("corrupt tar".to_string()) });
        let _ = done.wait_for(|d| *d).await;
        assert_eq!(ops.get(failed).unwrap().error.as_deref(), Some("corrupt tar"));

        let (slow, _) = ops.start("import", "env", |p| async move {
            p.phase("importing", Some(100));
            p.add_bytes(40);
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok(serde_json::Value::Null)
        });
        tokio::task::yield_now().await;
        assert_eq!(ops.cancel(slow).unwrap().state, OperationState::Cancelled);
        assert!(matches!(ops.cancel(slow), Err(OperationError::Finished(_))));
        assert!(matches!(ops.cancel(999), Err(OperationError::NotFound(_))));
        assert_eq!(ops.list().len(), 3);
    }
}
