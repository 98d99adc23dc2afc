//! Task logs in shared storage (`task_outputs/<id>.out`, `task_errors/<id>.err`), read as the
//! runners wrote them and never through a link planted there. Bytes are served unchanged; only
//! `read_log_text` (the dashboard's view) decodes them.

use std::path::PathBuf;

use hakuriver_model::task::LogChunk;
use hakuriver_model::TaskId;
use hakuriver_support::beneath::BeneathError;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::TaskService;
use crate::services::ServiceError;

/// Most bytes one dashboard read decodes.
const MAX_TEXT_READ: u64 = 1024 * 1024;
/// How much of a log the dashboard shows first: its end.
const FIRST_TEXT_TAIL: u64 = 256 * 1024;

/// Which part of a log a read asks for: from `offset`, or the last `tail` bytes, or from the
/// start; at most `limit` bytes (none: to the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogWindow {
    pub offset: Option<u64>,
    pub tail: Option<u64>,
    pub limit: Option<u64>,
}

impl LogWindow {
    /// `(start, length)` of the window in a log of `size` bytes.
    pub fn within(&self, size: u64) -> Result<(u64, u64), String> {
        let start = match (self.offset, self.tail) {
            (Some(_), Some(_)) => return Err("use offset or tail, not both".into()),
            (Some(offset), None) => offset.min(size),
            (None, Some(tail)) => size.saturating_sub(tail),
            (None, None) => 0,
        };
        let len = size - start;
        Ok((start, self.limit.map_or(len, |limit| len.min(limit))))
    }
}

/// A window of a task's log, opened: `file` is positioned at `start` and yields the `len` bytes
/// of the window (none: the log is not written yet); `size` is the whole log's size when it was
/// opened.
pub struct LogRead {
    pub file: Option<tokio::io::Take<tokio::fs::File>>,
    pub start: u64,
    pub len: u64,
    pub size: u64,
}

impl LogRead {
    /// Where the next read of a growing log starts.
    pub fn next_offset(&self) -> u64 {
        self.start + self.len
    }
}

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

    /// Opens `window` of a task's log, to be read (streamed) by the caller. A log not written
    /// yet reads as empty.
    pub async fn read_log(&self, id: TaskId, stdout: bool, window: LogWindow) -> Result<LogRead, ServiceError> {
        self.get(id).await?;
        let io = |e: std::io::Error| ServiceError::Io(format!("cannot read the log of task {id}: {e}"));
        let Some(mut file) = self.open_log(id, stdout).await? else {
            window.within(0).map_err(ServiceError::Invalid)?;
            return Ok(LogRead { file: None, start: 0, len: 0, size: 0 });
        };
        let size = file.metadata().await.map_err(io)?.len();
        let (start, len) = window.within(size).map_err(ServiceError::Invalid)?;
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        Ok(LogRead { file: Some(file.take(len)), start, len, size })
    }

    /// A piece of a task's log decoded for display, for the dashboard: from `offset`, or (none)
    /// its last 256 KiB; at most 1 MiB, cut at a character's end.
    pub async fn read_log_text(&self, id: TaskId, stdout: bool, offset: Option<u64>) -> Result<LogChunk, ServiceError> {
        let window = match offset {
            Some(offset) => LogWindow { offset: Some(offset), tail: None, limit: Some(MAX_TEXT_READ) },
            None => LogWindow { offset: None, tail: Some(FIRST_TEXT_TAIL), limit: None },
        };
        let read = self.read_log(id, stdout, window).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(read.len).unwrap_or(0));
        if let Some(mut file) = read.file {
            let io = |e: std::io::Error| ServiceError::Io(format!("cannot read the log of task {id}: {e}"));
            file.read_to_end(&mut bytes).await.map_err(io)?;
        }
        let end = read.start + read.len;
        // A tail may start inside a character: its remaining bytes are skipped.
        let skip = if offset.is_none() && read.start > 0 { continuation_bytes(&bytes) } else { 0 };
        let whole = if end >= read.size { bytes.len() } else { hakuriver_model::text::utf8_prefix(&bytes) };
        let next_offset = read.start + whole as u64;
        let text = String::from_utf8_lossy(&bytes[skip.min(whole)..whole]).into_owned();
        Ok(LogChunk { text, size: read.size, next_offset })
    }
}

/// How many bytes at the start of `bytes` continue a character begun before them (at most 3).
fn continuation_bytes(bytes: &[u8]) -> usize {
    bytes.iter().take(3).take_while(|&&b| b & 0b1100_0000 == 0b1000_0000).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_a_log() {
        let w = |offset, tail, limit| LogWindow { offset, tail, limit };
        assert_eq!(w(None, None, None).within(100), Ok((0, 100)), "whole by default");
        assert_eq!(w(Some(40), None, None).within(100), Ok((40, 60)));
        assert_eq!(w(Some(400), None, None).within(100), Ok((100, 0)), "past the end: nothing");
        assert_eq!(w(None, Some(30), None).within(100), Ok((70, 30)));
        assert_eq!(w(None, Some(300), None).within(100), Ok((0, 100)));
        assert_eq!(w(Some(10), None, Some(20)).within(100), Ok((10, 20)));
        assert_eq!(w(None, None, Some(0)).within(100), Ok((0, 0)));
        assert_eq!(w(None, Some(30), Some(10)).within(100), Ok((70, 10)));
        assert!(w(Some(1), Some(1), None).within(100).is_err());
    }

    #[test]
    fn a_tail_cut_inside_a_character_skips_its_rest() {
        let text = "aé€".as_bytes();
        assert_eq!(continuation_bytes(text), 0);
        assert_eq!(continuation_bytes(&text[2..]), 1, "the second byte of é");
        assert_eq!(continuation_bytes(&text[4..]), 2, "the last two bytes of €");
        assert_eq!(continuation_bytes(&[0x80, 0x80, 0x80, 0x80]), 3, "never more than a character's worth");
    }
}
