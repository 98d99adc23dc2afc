//! Task logs in shared storage (`task_outputs/<id>.out`, `task_errors/<id>.err`), read as the
//! runners wrote them and never through a link planted there.

use std::path::PathBuf;

use hakuriver_model::task::LogChunk;
use hakuriver_model::TaskId;
use hakuriver_support::beneath::BeneathError;

use super::TaskService;
use crate::services::ServiceError;

/// Most bytes one log read returns.
const MAX_LOG_READ: u64 = 4 * 1024 * 1024;

impl TaskService {
    pub fn log_paths(&self, id: TaskId) -> (PathBuf, PathBuf) {
        hakuriver_model::task::log_paths(&self.inner.shared_dir, id)
    }

    /// Opens a task's stdout (or stderr) for reading, never through a link planted in shared
    /// storage (that is refused, and logged); `None` while the file does not exist.
    pub async fn open_log(&self, id: TaskId, stdout: bool) -> Result<Option<tokio::fs::File>, ServiceError> {
        let (out, err) = self.log_paths(id);
        let path = if stdout { out } else { err };
        let root = self.inner.shared_dir.clone();
        let opened = tokio::task::spawn_blocking(move || hakuriver_support::beneath::open_read(&root, &path))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        match opened {
            Ok(file) => Ok(Some(tokio::fs::File::from_std(file))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e @ (BeneathError::Link(_) | BeneathError::NotRegular(_) | BeneathError::Outside(..))) => {
                tracing::warn!(task = %id, error = %e, "refused to read a task log");
                Err(ServiceError::Forbidden(format!("Task {id}'s log cannot be read: {e}.")))
            }
            Err(e) => Err(ServiceError::Io(format!("cannot read the log of task {id}: {e}"))),
        }
    }

    /// A task's log: from `offset`, or the last `tail` bytes, or from the start; at most 4 MiB.
    pub async fn read_log(
        &self,
        id: TaskId,
        stdout: bool,
        offset: Option<u64>,
        tail: Option<u64>,
    ) -> Result<LogChunk, ServiceError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        self.get(id).await?;
        let io = |e: std::io::Error| ServiceError::Io(format!("cannot read the log of task {id}: {e}"));
        let Some(mut file) = self.open_log(id, stdout).await? else {
            return Ok(LogChunk { text: String::new(), size: 0, next_offset: 0 });
        };
        let size = file.metadata().await.map_err(io)?.len();
        let start = match (offset, tail) {
            (Some(_), Some(_)) => return Err(ServiceError::Invalid("use offset or tail, not both".into())),
            (Some(offset), None) => offset.min(size),
            (None, Some(tail)) => size.saturating_sub(tail),
            (None, None) => 0,
        };
        let len = (size - start).min(MAX_LOG_READ);
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(len).read_to_end(&mut buf).await.map_err(io)?;
        Ok(LogChunk { text: String::from_utf8_lossy(&buf).into_owned(), size, next_offset: start + len })
    }
}
