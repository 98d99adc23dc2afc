//! A private CA for TLS tests (made with rcgen), and a cluster configured to use it.

use crate::ClusterDir;

pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA, and a certificate it signed for 127.0.0.1 and localhost.
pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("parameters");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
    Pki { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

impl ClusterDir {
    /// Writes `pki` into `tls/` and configures the host to serve HTTPS with it and everyone to
    /// trust its CA; with `runners`, the runners serve HTTPS with the same pair too.
    pub fn use_tls(&self, pki: &Pki, runners: bool) {
        let dir = self.path().join("tls");
        std::fs::create_dir_all(&dir).expect("tls folder");
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).expect("write ca.pem");
        std::fs::write(dir.join("cert.pem"), &pki.cert_pem).expect("write cert.pem");
        std::fs::write(dir.join("key.pem"), &pki.key_pem).expect("write key.pem");
        let pair = "tls_cert_file = \"tls/cert.pem\"\ntls_key_file = \"tls/key.pem\"\n";
        let mut config = std::fs::read_to_string(self.config())
            .expect("read config")
            .replace("[network]\n", &format!("[network]\n{pair}tls_ca_file = \"tls/ca.pem\"\n"));
        if runners {
            config.push_str(&format!("[runner]\n{pair}"));
        }
        std::fs::write(self.config(), config).expect("write config");
    }

    /// The host's HTTPS base URL.
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.host_port)
    }
}

/// A websocket over TLS.
pub type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl ClusterDir {
    /// Opens `path` on the host over WSS, trusting `pki`'s CA, with `token` as the bearer.
    pub async fn open_wss(&self, pki: &Pki, path: &str, token: Option<&str>) -> Wss {
        use tokio_rustls::rustls::pki_types::ServerName;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let tls = hakuriver_tls::client_config(Some(pki.ca_pem.as_bytes())).expect("client TLS");
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.host_port)).await.expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.expect("TLS handshake");
        let mut request = format!("wss://127.0.0.1:{}{path}", self.host_port).into_client_request().expect("request");
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        tokio_tungstenite::client_async(request, stream).await.expect("websocket").0
    }
}
