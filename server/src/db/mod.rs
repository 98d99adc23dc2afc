//! The host's database: one SQLite file (WAL) by default, or PostgreSQL when
//! `[database] url` names one. The same migrations (`migrations/`, portable SQL) are applied at
//! start, and every query is plain SQL that runs on both, through sqlx's `Any` driver.

pub mod auth;
pub mod backup;
pub mod nodes;
pub mod tasks;

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

/// Opens the database (creating an SQLite file if needed) and brings its schema up to date.
pub async fn open(location: Location<'_>) -> Result<Pool, DbError> {
    sqlx::any::install_default_drivers();
    let pool = match location {
        Location::File(path) => {
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let options: AnyConnectOptions = url.parse()?;
            AnyPoolOptions::new()
                .max_connections(8)
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
pub async fn begin_write(pool: &Pool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    if is_sqlite(pool) {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
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
