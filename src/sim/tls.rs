//! TLS for the simulated gateway: a self-signed certificate generated at start (rcgen) or
//! a certificate and key from PEM files, as a rustls server configuration (aws-lc-rs with ring's suites,
//! safe default protocol versions, ALPN `http/1.1`, no session resumption, the server's
//! own cipher-suite preference).
//!
//! Owns only building configurations; it never logs or writes key material.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A generated certificate: the server configuration and the certificate in PEM, for
/// clients to trust (`--cert-out`, the embedded target).
pub struct SelfSigned {
    pub server_config: Arc<rustls::ServerConfig>,
    pub cert_pem: String,
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`.
pub fn self_signed() -> anyhow::Result<SelfSigned> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    let cert_pem = certified.cert.pem();
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    let server_config = server_config(vec![certified.cert.der().clone()], key.into())?;
    Ok(SelfSigned {
        server_config,
        cert_pem,
    })
}

/// A configuration from a PEM certificate chain and a PEM private key.
pub fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate file {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate file {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate found in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key file {}", key.display()))?;
    server_config(certs, key)
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: every connection is a full handshake, which is what the
    // sign-in storm and the handshake-rate benchmarks measure (scripts/bench/storm.sh,
    // scripts/bench/gateway/capacity.sh) and what the nginx canned gateway does. With
    // rustls' defaults (2 TLS 1.3 tickets per connection, a 256-entry session cache) the
    // agentstorm client resumed 3,697 of 5,000 storm connections and oha 1,746 of 5,000.
    // Tickets cost no memory per held connection (19,000 HTTPS long polls: 396 MiB with
    // or without them).
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    // The server picks the suite from its own list (see `provider`), as servers set to
    // prefer their own ciphers do.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// The gateway's algorithms ([`crate::util::tls::crypto`]):
/// - cipher suites with AES-128-GCM (SHA-256) first, the rest in the provider's order.
///   Clients such as rustls list TLS13_AES_256_GCM_SHA384 first; its SHA-384 key schedule
///   ran without hardware help (SHA-512 compression was 10 % of the gateway's CPU in a
///   full-handshake storm), while SHA-256 uses the SHA extensions of current x86 and ARM
///   cores. TLS13_AES_128_GCM_SHA256 is the suite every TLS 1.3 peer must implement
///   (RFC 8446 §9.1);
/// - classical key exchange only (X25519, then P-256, P-384): a client that offers a
///   post-quantum hybrid (X25519MLKEM768, as oha and current browsers do) gets X25519, so
///   every client's handshake costs the gateway the same.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::kx_group;
    let mut provider = crate::util::tls::crypto();
    provider.cipher_suites.sort_by_key(|suite| {
        suite
            .suite()
            .as_str()
            .is_none_or(|name| !name.contains("AES_128_GCM"))
    });
    provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    provider
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_round_trips_through_pem_files() {
        let s = self_signed().expect("generates");
        assert!(s.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, &s.cert_pem).expect("write");
        // A certificate file is not a key file: a clear error, no panic.
        let err = from_pem_files(&cert, &cert).expect_err("no key in a cert file");
        assert!(format!("{err:#}").contains("private key"), "{err:#}");
        let missing = dir.path().join("missing.pem");
        assert!(from_pem_files(&missing, &missing).is_err());
    }

    /// The gateway's TLS on port 0, for `connections` connections: each gets one byte,
    /// `x`, and a close. With the roots that trust its certificate.
    async fn endpoint(
        connections: usize,
    ) -> (
        std::net::SocketAddr,
        rustls::RootCertStore,
        tokio::task::JoinHandle<()>,
    ) {
        use tokio::io::AsyncWriteExt as _;
        let s = self_signed().expect("generates");
        let acceptor = tokio_rustls::TlsAcceptor::from(s.server_config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            for _ in 0..connections {
                let (tcp, _) = listener.accept().await.expect("accept");
                let mut tls = acceptor.accept(tcp).await.expect("server handshake");
                tls.write_all(b"x").await.expect("write");
                tls.shutdown().await.expect("close");
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(s.cert_pem.as_bytes()) {
            roots.add(cert.expect("pem")).expect("root");
        }
        (addr, roots, server)
    }

    /// Connects to `addr` as `localhost` and reads to the end (which also takes in any
    /// session ticket the server sent); the connection and what it read.
    async fn fetch(
        addr: std::net::SocketAddr,
        connector: &tokio_rustls::TlsConnector,
    ) -> (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        Vec<u8>,
    ) {
        use tokio::io::AsyncReadExt as _;
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .expect("client handshake");
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.expect("read");
        (tls, got)
    }

    /// The storm and handshake-rate benchmarks count full handshakes: a client that keeps
    /// its session cache (as rustls' default client configuration does) must not resume.
    #[tokio::test]
    async fn a_returning_client_does_a_full_handshake() {
        let (addr, roots, server) = endpoint(2).await;
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let (tls, got) = fetch(addr, &connector).await;
            assert_eq!(got, b"x");
            kinds.push(tls.get_ref().1.handshake_kind());
        }
        server.await.expect("server task");
        let full = Some(rustls::HandshakeKind::Full);
        assert_eq!(kinds, [full, full]);
    }

    /// A client that lists TLS13_AES_256_GCM_SHA384 first (rustls' default order) and
    /// offers X25519MLKEM768 first (as oha does) gets the gateway's choices,
    /// TLS13_AES_128_GCM_SHA256 and X25519; a client offering only AES-256 still gets in.
    #[tokio::test]
    async fn the_gateway_picks_suite_and_key_exchange() {
        use rustls::crypto::aws_lc_rs::kx_group;
        use rustls::CipherSuite::{TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384};
        use rustls::NamedGroup;
        let (addr, roots, server) = endpoint(2).await;
        let mut got = Vec::new();
        for only_aes256 in [false, true] {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            assert_eq!(provider.cipher_suites[0].suite(), TLS13_AES_256_GCM_SHA384);
            if only_aes256 {
                provider
                    .cipher_suites
                    .retain(|suite| suite.suite() == TLS13_AES_256_GCM_SHA384);
            } else {
                provider.kx_groups = vec![kx_group::X25519MLKEM768, kx_group::X25519];
            }
            let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
            let (tls, _) = fetch(addr, &connector).await;
            let conn = tls.get_ref().1;
            got.push((
                conn.negotiated_cipher_suite().map(|s| s.suite()),
                conn.negotiated_key_exchange_group().map(|g| g.name()),
            ));
        }
        server.await.expect("server task");
        let x25519 = Some(NamedGroup::X25519);
        assert_eq!(
            got,
            [
                (Some(TLS13_AES_128_GCM_SHA256), x25519),
                (Some(TLS13_AES_256_GCM_SHA384), x25519)
            ]
        );
    }
}
