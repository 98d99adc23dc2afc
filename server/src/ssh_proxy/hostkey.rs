//! The jump host's own SSH host key: made once (ed25519) and kept in a file next to the
//! database, so clients see the same key after a restart.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read SSH host key {path}: {error}")]
    Read { path: String, error: String },
    #[error("cannot write SSH host key {path}: {error}")]
    Write { path: String, error: String },
}

/// Loads the key at `path`, or makes and saves a new one (mode 0600) when there is none.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return PrivateKey::from_openssh(text.as_bytes())
                .map_err(|e| HostKeyError::Read { path: shown, error: e.to_string() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(HostKeyError::Read { path: shown, error: e.to_string() }),
    }
    let write = |error: String| HostKeyError::Write { path: shown.clone(), error };
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).map_err(|e| write(e.to_string()))?;
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key.to_openssh(LineEnding::LF).map_err(|e| write(e.to_string()))?;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| write(e.to_string()))?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| write(e.to_string()))?;
    std::fs::rename(&partial, path).map_err(|e| write(e.to_string()))?;
    tracing::info!(path = %path.display(), "made a new SSH host key for the jump host");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(load_or_create(&path), Err(HostKeyError::Read { .. })));
    }
}
