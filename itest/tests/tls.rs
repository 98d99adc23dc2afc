//! The host's built-in HTTPS: a private CA (made here with rcgen) signs the host's certificate;
//! the runner and the CLI trust it through `network.tls_cert_file`'s neighbour `tls_ca_file`, and
//! the API, the dashboard and the events websocket (WSS) answer over TLS on the one port.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hakuriver_itest::{wait_for, ClusterDir};
use hakuriver_model::NodeInfo;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA, and a certificate it signed for 127.0.0.1 and localhost.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn api_dashboard_and_websockets_over_https_with_a_private_ca() {
    let cluster = ClusterDir::new();
    let pki = pki();
    let dir = cluster.path().join("tls");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &pki.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
    let config = std::fs::read_to_string(cluster.config()).unwrap().replace(
        "[network]\n",
        "[network]\ntls_cert_file = \"tls/cert.pem\"\ntls_key_file = \"tls/key.pem\"\ntls_ca_file = \"tls/ca.pem\"\n",
    );
    std::fs::write(cluster.config(), config).unwrap();

    let check = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert!(check.status.success() && text(&check).contains("ok    TLS:"), "{}", text(&check));
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("tls-node");
    let base = format!("https://127.0.0.1:{}", cluster.host_port);

    // A client that trusts only the private CA: the runner registered over HTTPS.
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let trusting = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let nodes: Vec<NodeInfo> = wait_for("the runner over HTTPS", Duration::from_secs(30), || async {
        let nodes: Vec<NodeInfo> = trusting.get(format!("{base}/api/nodes")).send().await.ok()?.json().await.ok()?;
        nodes.iter().any(|n| n.hostname == "tls-node").then_some(nodes)
    })
    .await;
    assert_eq!(nodes[0].status.to_string(), "online");
    let page = trusting.get(format!("{base}/nodes")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("tls-node"), "the dashboard, server-rendered over TLS");

    // Without the CA the certificate is refused: this is real TLS, not a plain port.
    let stranger = reqwest::Client::new();
    assert!(stranger.get(format!("{base}/api/nodes")).send().await.is_err());
    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    assert!(plain.get(format!("http://127.0.0.1:{}/api/nodes", cluster.host_port)).send().await.is_err());

    // The CLI finds https:// and the CA in the same configuration file.
    let out = cluster.cli(&["node", "list", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tls-node\n");

    // The CLI's terminal websocket over WSS: the TLS handshake succeeds and the host answers
    // (there is no such environment here, so it refuses with its reason).
    let out = cluster.cli(&["docker", "container", "shell", "no-such-env"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));

    // The events websocket over TLS (WSS).
    let mut roots = RootCertStore::empty();
    let ca_der: CertificateDer = rustls_pem_to_der(&pki.ca_pem);
    roots.add(ca_der).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", cluster.host_port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/api/events", cluster.host_port);
    let (mut events, _) = tokio_tungstenite::client_async(url.as_str(), tls).await.unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("tls-node"), "{first:?}");
}

#[test]
fn a_broken_certificate_fails_the_preflight() {
    let cluster = ClusterDir::new();
    std::fs::write(cluster.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(cluster.path().join("key.pem"), "not a key").unwrap();
    let config = std::fs::read_to_string(cluster.config())
        .unwrap()
        .replace("[network]\n", "[network]\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n");
    std::fs::write(cluster.config(), config).unwrap();
    let out = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = text(&out).lines().find(|l| l.starts_with("FAIL  TLS:")).map(String::from);
    assert!(line.as_deref().is_some_and(|l| l.contains("cert.pem") && l.contains("Fix: ")), "{}", text(&out));

    // Half a TLS setup is a configuration error.
    let config = std::fs::read_to_string(cluster.config()).unwrap().replace("tls_key_file = \"key.pem\"\n", "");
    std::fs::write(cluster.config(), config).unwrap();
    let out = cluster.command("hakuriver-host").arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("set both tls_cert_file and tls_key_file"), "{}", text(&out));
}

/// The DER bytes of the first certificate in a PEM text.
fn rustls_pem_to_der(pem: &str) -> CertificateDer<'static> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}
