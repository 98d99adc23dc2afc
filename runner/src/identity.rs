//! The runner's identity: a random key created on first start and kept in `[runner]
//! identity_file` (mode 0600). It goes with every call to the host, which binds the node name to
//! the first identity that registered it, so another machine holding the runner token cannot
//! take the name over.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the runner identity {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot create the runner identity {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("the runner identity {path} is damaged (expected 64 hex digits); remove it and ask an admin to release the node name")]
    Damaged { path: String },
    #[error("cannot make a random identity: {0}")]
    Random(String),
}

/// Reads the identity at `path`, creating it (and its folder) when missing.
pub fn load_or_create(path: &Path) -> Result<String, IdentityError> {
    match read(path) {
        Err(IdentityError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => create(path),
        other => other,
    }
}

fn read(path: &Path) -> Result<String, IdentityError> {
    let shown = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Read { path: shown(), source })?;
    let key = text.trim();
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key.to_string())
    } else {
        Err(IdentityError::Damaged { path: shown() })
    }
}

/// Makes a new identity at `path`. It is written whole under a name of its own, then linked into
/// place: runners starting at the same moment on one machine (sharing a home folder) never see
/// half a file, and the first link wins: the others read the winner's.
fn create(path: &Path) -> Result<String, IdentityError> {
    let shown = path.display().to_string();
    let failed = |source| IdentityError::Create { path: shown.clone(), source };
    let key = hakuriver_config::secret::generate().map_err(|e| IdentityError::Random(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let name = path.file_name().map_or_else(|| "runner_identity".into(), |n| n.to_string_lossy().into_owned());
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let attempt = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = path.with_file_name(format!(".{name}.{}.{attempt}.new", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| file.write_all(format!("{key}\n").as_bytes()).and_then(|()| file.sync_all()));
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %shown, "created this runner's identity");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(source) => Err(failed(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/runner_identity");
        let first = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(load_or_create(&path), Err(IdentityError::Damaged { .. })));
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn runners_starting_together_share_one_whole_identity() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("runner_identity");
            let start = std::sync::Arc::new(std::sync::Barrier::new(8));
            let keys: Vec<String> = (0..8)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        load_or_create(&path)
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap().unwrap())
                .collect();
            assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
            assert_eq!(read(&path).unwrap(), keys[0]);
        }
    }
}
