//! Which server certificates the harness trusts, turned into a rustls client config.
//!
//! Verification is on by default: the system's roots for real gateways, or exactly the CA
//! file a scenario names (like `curl --cacert`: a certificate of that file presented by the
//! gateway is trusted as it is, [`super::certs`]), or the embedded gateway's own generated
//! certificate. Skipping verification must be asked for and is reported in the results.
//! A chain that verified is taken as verified for a second ([`super::verify`]); the
//! gateway's handshake signature is checked on every connection.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use super::certs::DirectTrust;
use super::verify::ChainCache;

/// Where trust comes from.
#[derive(Clone)]
pub enum Trust {
    /// The operating system's root certificates.
    Native,
    /// Only the certificates in this PEM text (a CA file, or the embedded gateway's cert).
    Pem(String),
    /// No verification at all (explicitly requested).
    Insecure,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trust::Native => "Native",
            Trust::Pem(_) => "Pem",
            Trust::Insecure => "Insecure",
        })
    }
}

pub use crate::util::tls::crypto;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(crypto())
}

/// A client config for `trust` (always Some; None is kept for callers that let hyper-rustls
/// load the native roots itself).
///
/// TLS session resumption is off: every connection makes a full handshake, as each real
/// agent is a separate client with its own (at 8 a.m. empty) session cache. With rustls'
/// shared default cache, 3,697 of 5,000 storm connections resumed a session another agent
/// had opened, which flattered the storm rate against a gateway that resumes.
pub fn client_config(trust: &Trust) -> Result<Option<rustls::ClientConfig>, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Native => Arc::new(ChainCache::new(chains(native_roots()?)?)),
        Trust::Pem(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            let mut ca_file = Vec::new();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("CA file: not valid PEM: {e}"))?;
                roots
                    .add(cert.clone())
                    .map_err(|e| format!("CA file: certificate not usable: {e}"))?;
                ca_file.push(cert);
            }
            if ca_file.is_empty() {
                return Err(
                    "CA file: no certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)"
                        .into(),
                );
            }
            let direct = DirectTrust::new(ca_file, chains(roots)?);
            Arc::new(ChainCache::new(Arc::new(direct)))
        }
        Trust::Insecure => Arc::new(NoVerification(provider())),
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Some(config))
}

/// webpki's chain check against `roots`, with the harness's algorithms.
fn chains(roots: rustls::RootCertStore) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
    Ok(webpki)
}

/// The operating system's root certificates (as hyper-rustls loads them); an error when
/// there are none.
fn native_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let errors = found
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if !errors.is_empty() {
        tracing::warn!("loading the system's root certificates: {errors}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "cannot load the system's root certificates: none found{}; give the gateway's CA \
             with --ca-file",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({errors})")
            }
        ));
    }
    Ok(roots)
}

/// Accepts any certificate; used only when the scenario sets `insecure_skip_verify`.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_clear_error() {
        let e = client_config(&Trust::Pem("hello".into())).expect_err("no certs");
        assert!(e.contains("no certificate found"), "{e}");
        assert!(client_config(&Trust::Insecure).expect("builds").is_some());
    }

    #[test]
    fn verified_chains_are_remembered_unless_verification_is_off() {
        let gateway = crate::sim::tls::self_signed().expect("a certificate");
        for (trust, verifier) in [
            (Trust::Pem(gateway.cert_pem), "ChainCache"),
            (Trust::Native, "ChainCache"),
            (Trust::Insecure, "NoVerification"),
        ] {
            let config = client_config(&trust).expect("builds").expect("a config");
            let shown = format!("{config:?}");
            assert!(shown.contains(verifier), "{trust:?}: {shown}");
        }
    }

    #[test]
    fn every_connection_is_a_full_handshake() {
        // Each agent is a separate client: no session shared across agents.
        for trust in [Trust::Insecure, Trust::Native] {
            let config = client_config(&trust).expect("builds").expect("a config");
            let disabled = format!("{:?}", rustls::client::Resumption::disabled());
            assert_eq!(format!("{:?}", config.resumption), disabled);
            assert_ne!(
                format!("{:?}", rustls::client::Resumption::default()),
                disabled
            );
        }
    }
}
