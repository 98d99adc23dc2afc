//! Environment tarballs in shared storage (`<shared>/<container_dir>`): `<env>-<unix seconds>.tar`,
//! written by the host (create-tar) and by runners (a VPS saved as an environment) the same
//! way: under a hidden temporary name (`.<env>-<ts>.tar.partial`), flushed to disk, then renamed,
//! so a runner never loads half a file. Leftovers of an interrupted save are removed at host start.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use hakuriver_model::task::is_valid_env_name;
use tokio::io::AsyncWriteExt;

/// The buffer of tarball writes: every write to a tokio file is a trip to the blocking pool.
const IO_CHUNK: usize = 1 << 20;

/// `<env>-<digits>.tar` → `(env, timestamp)`.
pub fn parse_name(file: &str) -> Option<(&str, i64)> {
    let stem = file.strip_suffix(".tar")?;
    let (env, ts) = stem.rsplit_once('-')?;
    if !is_valid_env_name(env) || ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((env, ts.parse().ok()?))
}

pub fn file_name(env: &str, ts: i64) -> String {
    format!("{env}-{ts}.tar")
}

pub fn partial_name(env: &str, ts: i64) -> String {
    format!(".{env}-{ts}.tar.partial")
}

/// The regular files in `dir` (a link is never a tarball: runners would refuse to load it).
pub fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `env`'s tarballs in `dir`, newest first: `(timestamp, path)`.
pub fn versions(dir: &Path, env: &str) -> Vec<(i64, PathBuf)> {
    let mut found: Vec<(i64, PathBuf)> = names(dir)
        .into_iter()
        .filter_map(|n| parse_name(&n).filter(|(e, _)| *e == env).map(|(_, ts)| (ts, dir.join(&n))))
        .collect();
    found.sort_by_key(|v| std::cmp::Reverse(v.0));
    found
}

/// Tarballs of `env` older than `keep_ts`: removed once the new one is in place.
pub fn older_than(dir: &Path, env: &str, keep_ts: i64) -> Vec<PathBuf> {
    versions(dir, env).into_iter().filter(|(ts, _)| *ts < keep_ts).map(|(_, p)| p).collect()
}

/// Leftovers of interrupted saves.
pub fn partials(dir: &Path) -> Vec<PathBuf> {
    names(dir).into_iter().filter(|n| n.starts_with('.') && n.ends_with(".tar.partial")).map(|n| dir.join(n)).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// `docker save` of `image` into `dir` as `env`'s tarball version `ts`: written under the hidden
/// partial name (created new, never through a link), flushed, then renamed into place; the
/// partial file is removed if this fails or is cancelled (the future dropped). `on_bytes` hears
/// of every chunk written. Returns the tarball's path.
pub async fn save_image(
    docker: &bollard::Docker,
    image: &str,
    dir: &Path,
    env: &str,
    ts: i64,
    mut on_bytes: impl FnMut(u64),
) -> Result<PathBuf, SaveError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| SaveError::Io { path: path.clone(), reason: e.to_string() }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let partial = dir.join(partial_name(env, ts));
    let done = dir.join(file_name(env, ts));
    let guard = RemoveOnDrop(Some(partial.clone()));
    let (root, owned) = (dir.to_path_buf(), partial.clone());
    let created = tokio::task::spawn_blocking(move || crate::beneath::create_fresh(&root, &owned, 0o644))
        .await
        .map_err(|e| SaveError::Io { path: partial.clone(), reason: e.to_string() })?
        .map_err(|e| SaveError::Io { path: partial.clone(), reason: e.to_string() })?;
    let mut file = tokio::io::BufWriter::with_capacity(IO_CHUNK, tokio::fs::File::from_std(created));
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        file.write_all(&chunk).await.map_err(io(&partial))?;
        on_bytes(chunk.len() as u64);
    }
    file.flush().await.map_err(io(&partial))?;
    file.get_ref().sync_all().await.map_err(io(&partial))?;
    tokio::fs::rename(&partial, &done).await.map_err(io(&done))?;
    guard.disarm();
    Ok(done)
}

/// Deletes a file when dropped, unless disarmed: partial tarballs of failed or cancelled saves.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_and_leftovers() {
        assert_eq!(parse_name("my-env-1700000000.tar"), Some(("my-env", 1_700_000_000)));
        for bad in ["env.tar", "env-12a.tar", "Env-1.tar", ".env-1.tar.partial", "env-1.tar.gz", "-1.tar"] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        for n in ["base-100.tar", "base-300.tar", "base-200.tar", "torch-5.tar", ".base-400.tar.partial", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("base-900.tar")).unwrap();
        let order: Vec<i64> = versions(dir.path(), "base").into_iter().map(|(ts, _)| ts).collect();
        assert_eq!(order, [300, 200, 100], "newest first; the link is no version");
        assert_eq!(older_than(dir.path(), "base", 300).len(), 2);
        assert_eq!(partials(dir.path()), [dir.path().join(".base-400.tar.partial")]);
    }
}
