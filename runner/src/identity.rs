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
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = text.trim();
            if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(key.to_string())
            } else {
                Err(IdentityError::Damaged { path: shown })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = hakuriver_config::secret::generate().map_err(|e| IdentityError::Random(e.to_string()))?;
            let create = |source| IdentityError::Create { path: shown.clone(), source };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(create)?;
            }
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(create)?;
            file.write_all(format!("{key}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(create)?;
            tracing::info!(path = %shown, "created this runner's identity");
            Ok(key)
        }
        Err(source) => Err(IdentityError::Read { path: shown, source }),
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
    }
}
