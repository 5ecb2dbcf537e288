//! Server certificates as users make them, served by a TLS server inside the test on
//! 127.0.0.1 and checked by the harness's own client (`Target::preflight`, or a handshake
//! through `tls::client_config`): a self-signed CA:TRUE certificate given as the CA file
//! (rcgen's, and one made by `openssl req -x509`), a CA and its leaf, and each way a
//! certificate is refused, with the words the user reads. Also https:// aimed at a plain
//! HTTP server. Loopback and temporary directories only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentstorm::client::certs::verify_direct;
use agentstorm::client::{tls, Target, TargetOptions, Trust};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ExtendedKeyPurpose};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A certificate and its key, in PEM.
struct Made {
    cert_pem: String,
    key_pem: String,
}

/// A self-signed certificate for `names`; CA:TRUE when `ca` (as `openssl req -x509` makes).
fn self_signed(names: &[&str], ca: bool, edit: impl FnOnce(&mut CertificateParams)) -> Made {
    let mut params = params(names, ca);
    edit(&mut params);
    let key = KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a certificate");
    Made {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn params(names: &[&str], ca: bool) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "agentstorm test gateway");
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

/// A TLS server on 127.0.0.1 presenting `chain_pem` (the gateway's certificate first); it
/// completes handshakes and holds each connection until the client closes it.
async fn serve(chain_pem: &str, key_pem: &str) -> SocketAddr {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(tls::crypto()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 1024];
                    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    addr
}

/// The harness's preflight against `url`.
async fn preflight(url: String, trust: Trust) -> Result<(), String> {
    let target = Target::new(&TargetOptions {
        url,
        trust,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        source_addresses: Vec::new(),
        read_buffer_bytes: None,
    })?;
    target.preflight().await
}

/// A handshake with the client config `tls::client_config` makes, naming `host`.
async fn handshake(addr: SocketAddr, host: &str, trust: &Trust) -> Result<(), std::io::Error> {
    let config = tls::client_config(trust)
        .expect("a config")
        .expect("always Some");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(host.to_string()).expect("a server name");
    let mut tls = connector.connect(name, tcp).await?;
    tls.shutdown().await
}

fn assert_refused(result: Result<(), String>, wanted: &[&str]) -> String {
    let message = result.expect_err("refused");
    eprintln!("{message}");
    assert!(message.contains("TLS handshake failed"), "{message}");
    for w in wanted {
        assert!(message.contains(w), "{w:?} not in: {message}");
    }
    for debug in [
        "Context {",
        "OtherError(",
        "CaUsedAsEndEntity",
        "UnknownIssuer",
    ] {
        assert!(!message.contains(debug), "{debug:?} in: {message}");
    }
    message
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_the_ca_file_is_trusted_directly() {
    let made = self_signed(&["localhost", "127.0.0.1"], true, |_| {});
    let addr = serve(&made.cert_pem, &made.key_pem).await;
    let trust = Trust::Pem(made.cert_pem.clone());
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}", addr.port());
        preflight(url, trust.clone()).await.expect("trusted");
        handshake(addr, host, &trust).await.expect("a handshake");
    }
}

#[tokio::test]
async fn a_certificate_made_by_openssl_req_x509_is_trusted_via_its_own_pem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("/usr/bin/openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("/usr/bin/openssl runs");
    assert!(status.success(), "openssl req -x509: {status}");
    let cert_pem = std::fs::read_to_string(dir.path().join("c.pem")).expect("c.pem");
    let key_pem = std::fs::read_to_string(dir.path().join("k.pem")).expect("k.pem");
    // The case at hand: openssl marks it a CA.
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("PEM");
    let (_, x509) = x509_parser::parse_x509_certificate(der.as_ref()).expect("X.509");
    assert!(x509.is_ca(), "openssl req -x509 makes CA:TRUE");
    let addr = serve(&cert_pem, &key_pem).await;
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}", addr.port());
        preflight(url, Trust::Pem(cert_pem.clone()))
            .await
            .expect("trusted");
    }
}

#[tokio::test]
async fn a_host_not_in_the_certificate_is_refused_naming_the_certificates_names() {
    let made = self_signed(&["gateway.example", "gw2.example"], true, |_| {});
    let addr = serve(&made.cert_pem, &made.key_pem).await;
    let url = format!("https://127.0.0.1:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(made.cert_pem.clone())).await,
        &[
            "is for gateway.example, gw2.example — not 127.0.0.1",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_certificate_is_refused_with_its_date() {
    let expired = self_signed(&["localhost"], true, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let addr = serve(&expired.cert_pem, &expired.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(expired.cert_pem.clone())).await,
        &["expired at 2021-01-01T00:00:00Z", "this machine's time is"],
    );
    let early = self_signed(&["localhost"], true, |p| {
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
        p.not_after = rcgen::date_time_ymd(2091, 1, 1);
    });
    let addr = serve(&early.cert_pem, &early.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(early.cert_pem.clone())).await,
        &["not valid until 2090-01-01T00:00:00Z"],
    );
}

#[tokio::test]
async fn a_certificate_the_ca_file_does_not_hold_is_refused() {
    let other = self_signed(&["localhost"], true, |p| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, "another gateway");
    });
    // A plain self-signed server certificate: not signed by anything trusted.
    let plain = self_signed(&["localhost"], false, |_| {});
    let addr = serve(&plain.cert_pem, &plain.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(other.cert_pem.clone())).await,
        &["not signed by a CA you trust", "--ca-file"],
    );
    // Another certificate of the same name in the CA file: its key did not sign this one.
    let namesake = self_signed(&["localhost"], true, |_| {});
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(namesake.cert_pem.clone())).await,
        &["not really signed by the CA it names"],
    );
    // A CA:TRUE one: named as a CA certificate, with the way to trust it.
    let ca = self_signed(&["localhost"], true, |_| {});
    let addr = serve(&ca.cert_pem, &ca.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(other.cert_pem.clone())).await,
        &[
            "is a CA certificate",
            "give that very certificate as --ca-file",
        ],
    );
}

#[tokio::test]
async fn a_leaf_signed_by_the_ca_in_the_ca_file_still_works() {
    let mut ca_params = params(&[], true);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "agentstorm test CA");
    let ca_key = KeyPair::generate().expect("a key");
    let ca = ca_params.self_signed(&ca_key).expect("a CA");
    let leaf_key = KeyPair::generate().expect("a key");
    let leaf = params(&["localhost"], false)
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("a leaf");
    let chain = format!("{}{}", leaf.pem(), ca.pem());
    let addr = serve(&chain, &leaf_key.serialize_pem()).await;
    let trust = Trust::Pem(ca.pem());
    preflight(format!("https://localhost:{}", addr.port()), trust.clone())
        .await
        .expect("a chain to the trusted CA");
    // Through the chain check, a wrong host is named the same way.
    assert_refused(
        preflight(format!("https://127.0.0.1:{}", addr.port()), trust).await,
        &["is for localhost — not 127.0.0.1"],
    );
}

#[tokio::test]
async fn a_directly_trusted_certificate_only_for_client_auth_is_refused() {
    let client_only = self_signed(&["localhost"], true, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let addr = serve(&client_only.cert_pem, &client_only.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_refused(
        preflight(url, Trust::Pem(client_only.cert_pem.clone())).await,
        &[
            "not allowed for TLS servers",
            "only clientAuth, not serverAuth",
        ],
    );
    // serverAuth named among others is fine.
    let both = self_signed(&["localhost"], true, |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
    });
    let addr = serve(&both.cert_pem, &both.key_pem).await;
    let url = format!("https://localhost:{}", addr.port());
    preflight(url, Trust::Pem(both.cert_pem.clone()))
        .await
        .expect("serverAuth allowed");
}

#[tokio::test]
async fn https_to_a_plain_http_server_says_it_did_not_answer_in_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                // The ClientHello, answered as a plain HTTP server answers nonsense.
                if tcp.read(&mut buf).await.is_ok() {
                    let _ = tcp
                        .write_all(
                            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\
                              Connection: close\r\n\r\n",
                        )
                        .await;
                    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    let made = self_signed(&["localhost"], true, |_| {});
    let message = assert_refused(
        preflight(
            format!("https://127.0.0.1:{}", addr.port()),
            Trust::Pem(made.cert_pem.clone()),
        )
        .await,
        &["did not answer in TLS", "use http://"],
    );
    assert!(!message.contains("corrupt message"), "{message}");
}

/// The reverse, over a whole run: `http://` aimed at a TLS port. The replies are unreadable
/// and nothing ever answers, so the run stops at once and cannot measure (exit 3), saying
/// which scheme to use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_plain_http_against_a_tls_port_stops_and_says_use_https() {
    let made = self_signed(&["localhost"], true, |_| {});
    let addr = serve(&made.cert_pem, &made.key_pem).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"wrong-scheme\"\n[agents]\nids = \"1001-1020\"\n[load]\nstages = [{ hold = \"10s\", rate = 20 }]\n",
    )
    .expect("scenario");
    let mut opts = agentstorm::run::RunOptions::new(scenario);
    opts.target = Some(format!("http://127.0.0.1:{}", addr.port()));
    opts.out = Some(dir.path().join("out"));
    let out = agentstorm::run::run(opts)
        .await
        .expect("a run that reports");
    assert_eq!(
        out.exit_code,
        agentstorm::exit::CANNOT_MEASURE,
        "{:?}",
        out.results.derived.verdict
    );
    let reason = &out.results.derived.verdict.reason;
    assert!(
        reason.contains("speaks TLS")
            && reason.contains(&format!("use https://127.0.0.1:{}", addr.port())),
        "{reason}"
    );
    assert!(
        out.results.scheduler.started < 200,
        "stopped long before the plan's 200 arrivals: {}",
        out.results.scheduler.started
    );
}

/// The checks on a certificate trusted as given, at chosen times (no clock involved).
#[test]
fn a_directly_trusted_certificate_is_still_checked_for_dates_name_and_purpose() {
    let at = |secs: u64| UnixTime::since_unix_epoch(Duration::from_secs(secs));
    let (start, middle, end) = (1_893_456_000, 1_906_502_400, 1_924_992_000); // 2030, 2031
    let made = self_signed(&["localhost"], true, |p| {
        p.not_before = rcgen::date_time_ymd(2030, 1, 1);
        p.not_after = rcgen::date_time_ymd(2031, 1, 1);
    });
    let der = CertificateDer::from_pem_slice(made.cert_pem.as_bytes()).expect("PEM");
    let localhost = ServerName::try_from("localhost").expect("a name");
    let check = |name: &ServerName<'_>, secs| match verify_direct(&der, name, at(secs)) {
        Ok(_) => None,
        Err(rustls::Error::InvalidCertificate(e)) => Some(e),
        Err(other) => panic!("not a certificate error: {other}"),
    };
    assert!(check(&localhost, middle).is_none());
    assert!(check(&localhost, start).is_none() && check(&localhost, end).is_none());
    match check(&localhost, start - 1) {
        Some(CertificateError::NotValidYetContext { not_before, .. }) => {
            assert_eq!(not_before.as_secs(), start)
        }
        other => panic!("{other:?}"),
    }
    match check(&localhost, end + 1) {
        Some(CertificateError::ExpiredContext { not_after, .. }) => {
            assert_eq!(not_after.as_secs(), end)
        }
        other => panic!("{other:?}"),
    }
    let other = ServerName::try_from("other.example").expect("a name");
    match check(&other, middle) {
        Some(CertificateError::NotValidForNameContext { presented, .. }) => {
            assert_eq!(presented, vec!["DnsName(\"localhost\")".to_string()])
        }
        other => panic!("{other:?}"),
    }
    let client_only = self_signed(&["localhost"], true, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let der = CertificateDer::from_pem_slice(client_only.cert_pem.as_bytes()).expect("PEM");
    match verify_direct(&der, &localhost, at(middle)) {
        Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurposeContext {
            presented,
            ..
        })) => assert_eq!(presented, vec![ExtendedKeyPurpose::ClientAuth]),
        other => panic!("{other:?}"),
    }
    // Bytes that are no certificate: an error, no panic.
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01]);
    assert!(verify_direct(&junk, &localhost, at(middle)).is_err());
}

/// Presents one certificate, signing with whatever key it was given (rustls' own
/// `with_single_cert` refuses a key that does not match).
#[derive(Debug)]
struct Impostor(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Impostor {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[tokio::test]
async fn a_directly_trusted_certificate_presented_without_its_key_is_refused() {
    let made = self_signed(&["localhost"], true, |_| {});
    let stranger = self_signed(&["localhost"], true, |_| {});
    let cert = CertificateDer::from_pem_slice(made.cert_pem.as_bytes()).expect("PEM");
    let key = PrivateKeyDer::from_pem_slice(stranger.key_pem.as_bytes()).expect("a key");
    let provider = Arc::new(tls::crypto());
    let key = provider
        .key_provider
        .load_private_key(key)
        .expect("a signing key");
    let certified = rustls::sign::CertifiedKey::new(vec![cert], key);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Impostor(Arc::new(certified))));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    assert_refused(
        preflight(
            format!("https://localhost:{}", addr.port()),
            Trust::Pem(made.cert_pem),
        )
        .await,
        &["a signature does not verify", "key does not match"],
    );
}
