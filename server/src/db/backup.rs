//! Consistent copies of the host's database while it runs (`VACUUM INTO`), restoring one while
//! it does not, and the lock that tells the two apart: a running host holds an exclusive `flock`
//! on `<db_file>.lock`, so a second host on the same file and a restore under a live host are
//! both refused.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustix::fs::FlockOperation;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; choose another file or pass --force")]
    Exists(PathBuf),
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{path} is not a HakuRiver database: {reason}")]
    NotOurs { path: PathBuf, reason: String },
    #[error("{path} failed its integrity check: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the host is running on {db} (pid {pid}); stop it first (e.g. sudo systemctl stop hakuriver-host)")]
    HostRunning { db: PathBuf, pid: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

fn lock_path(db_file: &Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The running host's hold on its database file; released when dropped (or when the process
/// ends, however it ends).
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

impl HostLock {
    /// Takes the lock, or says which process has it.
    pub fn acquire(db_file: &Path) -> Result<HostLock, BackupError> {
        let path = lock_path(db_file);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let pid = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
            return Err(BackupError::HostRunning { db: db_file.to_path_buf(), pid });
        }
        file.set_len(0).map_err(io(&path))?;
        write!(file, "{}", std::process::id()).map_err(io(&path))?;
        Ok(HostLock { _file: file })
    }
}

/// `PRAGMA integrity_check` and our schema's presence, on a file opened read-only.
async fn verify(path: &Path) -> Result<(), BackupError> {
    let options = SqliteConnectOptions::from_str("sqlite://")?.filename(path).read_only(true);
    let mut conn = options.connect().await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await?;
    if check != "ok" {
        return Err(BackupError::Corrupt { path: path.to_path_buf(), detail: check });
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('tasks', 'nodes', '_sqlx_migrations')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| BackupError::NotOurs { path: path.to_path_buf(), reason: e.to_string() })?;
    conn.close().await?;
    if tables.len() != 3 {
        return Err(BackupError::NotOurs { path: path.to_path_buf(), reason: format!("tables found: {tables:?}") });
    }
    Ok(())
}

/// Writes a consistent copy of `db_file` to `to` (the host may be running and writing), then
/// checks the copy. Returns its size.
pub async fn backup(db_file: &Path, to: &Path, force: bool) -> Result<u64, BackupError> {
    if !db_file.is_file() {
        return Err(BackupError::NoDatabase(db_file.to_path_buf()));
    }
    if to.exists() {
        if !force {
            return Err(BackupError::Exists(to.to_path_buf()));
        }
        std::fs::remove_file(to).map_err(io(to))?;
    }
    let options =
        SqliteConnectOptions::from_str("sqlite://")?.filename(db_file).busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = options.connect().await?;
    // One statement, one read transaction: the copy is the database as of one instant.
    sqlx::query("VACUUM INTO ?").bind(to.to_string_lossy().into_owned()).execute(&mut conn).await?;
    conn.close().await?;
    File::open(to).and_then(|f| f.sync_all()).map_err(io(to))?;
    verify(to).await?;
    Ok(std::fs::metadata(to).map_err(io(to))?.len())
}

/// Replaces `db_file` with the backup `from`, after checking it; the replaced file is kept next
/// to it as `<db_file>.before-restore-<unix seconds>`. Refused while a host holds the database.
/// Returns where the old file went, if there was one.
pub async fn restore(db_file: &Path, from: &Path) -> Result<Option<PathBuf>, BackupError> {
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.to_path_buf()));
    }
    let _lock = HostLock::acquire(db_file)?;
    verify(from).await?;
    let staged = db_file.with_extension("restoring");
    std::fs::copy(from, &staged).map_err(io(&staged))?;
    File::open(&staged).and_then(|f| f.sync_all()).map_err(io(&staged))?;
    let kept = if db_file.exists() {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut name = db_file.as_os_str().to_owned();
        name.push(format!(".before-restore-{secs}"));
        let kept = PathBuf::from(name);
        std::fs::rename(db_file, &kept).map_err(io(db_file))?;
        Some(kept)
    } else {
        None
    };
    // The old file's write-ahead log belongs to it, never to the restored one.
    for suffix in ["-wal", "-shm"] {
        let mut name = db_file.as_os_str().to_owned();
        name.push(suffix);
        let side = PathBuf::from(name);
        if side.exists() {
            std::fs::remove_file(&side).map_err(io(&side))?;
        }
    }
    std::fs::rename(&staged, db_file).map_err(io(db_file))?;
    if let Some(dir) = db_file.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backup_restores_and_a_live_host_blocks_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("host.db");
        let pool = crate::db::open(crate::db::Location::File(&db)).await.unwrap();
        sqlx::query("INSERT INTO nodes (hostname, url, total_cores, status, registered_at_ms, last_heartbeat_ms) VALUES ('n1', 'http://x', 4, 'online', 0, 0)")
            .execute(&pool)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        assert!(backup(&db, &copy, false).await.unwrap() > 0);
        assert!(matches!(backup(&db, &copy, false).await, Err(BackupError::Exists(_))));
        sqlx::query("DELETE FROM nodes").execute(&pool).await.unwrap();

        let lock = HostLock::acquire(&db).unwrap();
        assert!(matches!(restore(&db, &copy).await, Err(BackupError::HostRunning { .. })));
        assert!(matches!(HostLock::acquire(&db), Err(BackupError::HostRunning { .. })), "one host per file");
        drop(lock);
        pool.close().await;

        let kept = restore(&db, &copy).await.unwrap().expect("the old file is kept");
        assert!(kept.is_file());
        let pool = crate::db::open(crate::db::Location::File(&db)).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes").fetch_one(&pool).await.unwrap();
        assert_eq!(n, 1, "the node from the backup is back");

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, "not a database at all, just text that is long enough").unwrap();
        assert!(restore(&db, &junk).await.is_err());
    }
}
