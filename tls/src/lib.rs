//! TLS for HakuRiver: the HTTPS listener the host and the runners serve on (`server`), and the
//! client side (`client_config`) that trusts the system's roots plus the cluster's own CA
//! (`network.tls_ca_file`), for the host's calls to runners and the CLI's websockets.

mod server;

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

pub use server::{acceptor, TlsListener};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the certificate and key do not go together: {0}")]
    Config(String),
    #[error("CA certificate: {0}")]
    Ca(String),
}

/// A client setup that trusts the system's roots (webpki) and every certificate in `ca_pem`.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.map_err(|e| TlsError::Ca(e.to_string()))?).map_err(|e| TlsError::Ca(e.to_string()))?;
            found += 1;
        }
        if found == 0 {
            return Err(TlsError::Ca("no certificate in it".into()));
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_certificates() {
        assert!(client_config(None).is_ok());
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".to_string()]).unwrap();
        assert!(client_config(Some(ca.cert.pem().as_bytes())).is_ok());
        assert!(matches!(client_config(Some(b"not a certificate")), Err(TlsError::Ca(_))));
    }

    #[test]
    fn a_pair_loads_and_a_broken_one_names_its_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (cert, key, bad) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("bad.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        std::fs::write(&bad, "not a certificate").unwrap();
        assert!(acceptor(&cert, &key).is_ok());
        let err = acceptor(&bad, &key).err().unwrap().to_string();
        assert!(err.contains("bad.pem"), "{err}");
        let err = acceptor(&cert, &bad).err().unwrap().to_string();
        assert!(err.contains("bad.pem"), "{err}");
    }
}
