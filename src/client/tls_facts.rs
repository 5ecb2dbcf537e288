//! What a gateway's TLS looks like, for people: one handshake that only reads (protocol
//! version, cipher suite, key exchange, and each certificate the gateway presents: subject,
//! issuer, names, validity, CA flag). It trusts nothing and sends nothing over the
//! connection; whether the certificate is trusted is the agents' own handshake's verdict.
//! `probe` shows it; a run uses it to tell that an `http://` target's port speaks TLS.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use x509_parser::extensions::GeneralName;

use crate::client::Trust;

/// The handshake's outcome and the certificates shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// `TLS13_AES_128_GCM_SHA256`.
    pub cipher: String,
    /// `X25519`, `secp256r1`; empty when not known.
    pub key_exchange: String,
    /// The gateway's certificate first, then what it sent with it.
    pub chain: Vec<CertFacts>,
}

/// One certificate, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// Its subjectAltName DNS names and IP addresses.
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// basicConstraints CA:TRUE (what `openssl req -x509` makes).
    pub is_ca: bool,
    /// Subject and issuer are the same name.
    pub self_signed: bool,
}

impl CertFacts {
    /// Reads a DER certificate; None when it is not one x509-parser can read.
    pub fn from_der(der: &[u8]) -> Option<CertFacts> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let time = |t: i64| UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => names.push((*d).to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                        16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        let subject = cert.subject().to_string();
        let issuer = cert.issuer().to_string();
        Some(CertFacts {
            self_signed: subject == issuer,
            subject,
            issuer,
            names,
            not_before: time(cert.validity().not_before.timestamp()),
            not_after: time(cert.validity().not_after.timestamp()),
            is_ca: cert.is_ca(),
        })
    }
}

/// Opens one TLS connection to `host:port`, reads what the handshake shows, and closes it.
/// The certificate is not checked here (the facts are wanted most when it fails).
pub async fn read(host: &str, port: u16, timeout: Duration) -> Result<TlsFacts, String> {
    let config = crate::client::tls::client_config(&Trust::Insecure)?
        .ok_or_else(|| "TLS setup failed".to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_string())
        .map_err(|e| format!("{host} is not a name TLS can check: {e}"))?;
    let handshake = async {
        let tcp = TcpStream::connect((bare, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))
    };
    let stream = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| format!("no TLS handshake with {host}:{port} within {timeout:?}"))??;
    let (_, conn) = stream.get_ref();
    let version = conn
        .protocol_version()
        .and_then(|v| v.as_str())
        .map(|v| v.replace('_', "."))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or_default()
        .to_string();
    let key_exchange = conn
        .negotiated_key_exchange_group()
        .and_then(|g| g.name().as_str())
        .unwrap_or_default()
        .to_string();
    let chain = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| CertFacts::from_der(c))
        .collect();
    Ok(TlsFacts {
        version,
        cipher,
        key_exchange,
        chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_reads_as_written() {
        let mut params =
            rcgen::CertificateParams::new(vec!["gw.example".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gw.example");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2027, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let facts = CertFacts::from_der(cert.der()).expect("readable");
        assert_eq!(facts.subject, "CN=gw.example");
        assert!(facts.self_signed && facts.is_ca);
        assert_eq!(facts.names, ["gw.example", "127.0.0.1"]);
        assert_eq!(
            humantime::format_rfc3339(facts.not_after).to_string(),
            "2027-01-01T00:00:00Z"
        );
        assert!(CertFacts::from_der(b"not a certificate").is_none());
    }
}
