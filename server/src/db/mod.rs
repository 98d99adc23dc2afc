//! The host's database: one SQLite file (WAL) by default, or PostgreSQL when
//! `[database] url` names one. The same migrations (`migrations/`, portable SQL) are applied at
//! start, and every query is plain SQL that runs on both, through sqlx's `Any` driver.

pub mod auth;
pub mod backup;
pub mod nodes;
pub mod original;
pub mod snapshots;
pub mod task_queue;
mod task_row;
pub mod tasks;
pub mod usage;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

pub type Pool = AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row in {table}: {message}")]
    Corrupt { table: &'static str, message: String },
    #[error("cannot import the original HakuRiver's database: {0}")]
    NotOriginal(String),
}

/// Where the state lives.
#[derive(Debug, Clone)]
pub enum Location<'a> {
    File(&'a Path),
    Url(&'a str),
}

impl<'a> Location<'a> {
    pub fn of(config: &'a hakuriver_config::DatabaseSection) -> Location<'a> {
        match &config.url {
            Some(url) => Location::Url(url),
            None => Location::File(&config.db_file),
        }
    }
}

impl std::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            // Never the password.
            Location::Url(url) => match url::Url::parse(url) {
                Ok(u) => write!(f, "postgres://{}{}", u.host_str().unwrap_or(""), u.path()),
                Err(_) => f.write_str("a PostgreSQL URL"),
            },
        }
    }
}

/// How long a PostgreSQL connection may sit idle in the pool before it is pinged on its next use.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Opens the database (creating an SQLite file if needed) and brings its schema up to date.
pub async fn open(location: Location<'_>) -> Result<Pool, DbError> {
    sqlx::any::install_default_drivers();
    let pool = match location {
        Location::File(path) => {
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let options: AnyConnectOptions = url.parse()?;
            AnyPoolOptions::new()
                .max_connections(8)
                // A file has no server to lose a connection to: no ping before each use.
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers never wait for the writer; a writer waits up to 10 s.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?
        }
        Location::Url(url) => {
            let options: AnyConnectOptions = url.parse()?;
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                // A connection in steady use is not pinged before each query (a round trip per
                // query); one idle for a while is, so a server restarted meanwhile costs a
                // reconnect, not a failed request.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IDLE_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await?
        }
    };
    sqlx::migrate!("../migrations").run(&pool).await?;
    Ok(pool)
}

/// A write transaction. SQLite takes its write lock at the start (`BEGIN IMMEDIATE`), so two
/// writers queue instead of failing when one upgrades from reading; PostgreSQL locks rows as
/// it goes.
///
/// The begin runs in a task of its own, so it always finishes: a caller cancelled half-way (a
/// client that hung up, a timeout) then drops a whole `Transaction`, which rolls back. sqlx's
/// begin, cancelled after the database began but before the `Transaction` exists, would return
/// the connection to the pool still inside the transaction, holding SQLite's write lock for good.
pub async fn begin_write(pool: &Pool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let write = is_sqlite(pool).then_some("BEGIN IMMEDIATE");
    begin_whole(pool, write).await
}

/// A read transaction: one consistent view of several queries, without SQLite's write lock.
pub async fn begin_read(pool: &Pool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    begin_whole(pool, None).await
}

/// Begins in a task of its own (see `begin_write`); `statement` replaces the plain `BEGIN`.
async fn begin_whole(pool: &Pool, statement: Option<&'static str>) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let pool = pool.clone();
    let begin = tokio::spawn(async move {
        match statement {
            Some(statement) => pool.begin_with(statement).await,
            None => pool.begin().await,
        }
    });
    begin.await.map_err(|e| sqlx::Error::Protocol(format!("the transaction's begin did not finish: {e}")))?
}

fn is_sqlite(pool: &Pool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

/// A fresh, empty database for a test: an SQLite file in `dir`, or, when
/// `HAKURIVER_TEST_POSTGRES_URL` is set (the PostgreSQL suite), a new database in that server.
#[cfg(test)]
pub async fn test_pool(dir: &Path) -> Pool {
    match std::env::var("HAKURIVER_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            sqlx::any::install_default_drivers();
            let name = format!(
                "hakuriver_test_{}_{}",
                std::process::id(),
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
            );
            let admin = AnyPool::connect(&admin_url).await.expect("the test PostgreSQL server");
            admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create a test database");
            admin.close().await;
            let mut url = url::Url::parse(&admin_url).expect("HAKURIVER_TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            open(Location::Url(url.as_str())).await.expect("open the test database")
        }
        Err(_) => open(Location::File(&dir.join("test.db"))).await.expect("open the test database"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers cancelled at every point of their begin: afterwards every connection of the pool
    /// still begins, writes and commits (none was left inside a transaction, holding the lock).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_begins_leave_no_connection_inside_a_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = test_pool(dir.path()).await;
        // How long one begin takes here, to cancel begins all through that span.
        let started = std::time::Instant::now();
        for _ in 0..20 {
            begin_write(&pool).await.expect("begin").commit().await.expect("commit");
        }
        let span = started.elapsed().as_nanos() as u64 / 20 * 2;
        for n in 0..10_000u64 {
            let cancel_after = Duration::from_nanos(n * 7919 % span.max(1));
            let _ = tokio::time::timeout(cancel_after, begin_write(&pool)).await;
        }
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut tx = tokio::time::timeout(Duration::from_secs(20), begin_write(&pool))
                .await
                .expect("a begin within the busy timeout")
                .expect("begin");
            sqlx::query("UPDATE nodes SET status = status").execute(&mut *tx).await.expect("write");
            tx.commit().await.expect("commit");
            // Held, so that the next begin takes another of the pool's connections.
            held.push(pool.acquire().await.expect("a connection"));
        }
    }
}
