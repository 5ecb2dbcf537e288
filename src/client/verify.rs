//! The harness's server-certificate check: webpki's (or, for a CA file's own certificate,
//! [`super::certs::DirectTrust`]'s), with the chain result kept for a second.
//!
//! Each TLS handshake checks two signatures on the client side: the certificate chain (the
//! issuer's signature on the gateway's certificate, up to a trusted root) and the
//! gateway's signature over this handshake (proof that it holds the certificate's key).
//! A real agent is one client and checks both once per connection. The harness is
//! thousands of agents on one machine, seeing the same chain on every connection of a
//! storm: checking it anew each time was the largest single cost of a fresh connection
//! (ECDSA P-256 verification took 27 % of the harness's CPU in a sign-in storm, half of
//! it for the chain). So a chain that verified is remembered, byte for byte with the
//! server name it was checked for, for [`CHAIN_TTL_SECS`] of the handshake clock; the
//! handshake signature is still checked on every connection, and a chain that failed is
//! never remembered. What the gateway does is unchanged: it still makes a full handshake,
//! signature included, for each connection.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How long a verified chain is taken as verified again without checking (seconds of the
/// `now` rustls passes in): long enough that a storm checks it about once a second, short
/// enough that expiry is noticed within a second.
pub const CHAIN_TTL_SECS: u64 = 1;

/// The chain last verified, and when.
struct Verified {
    end_entity: CertificateDer<'static>,
    intermediates: Vec<CertificateDer<'static>>,
    server_name: ServerName<'static>,
    ocsp: Vec<u8>,
    at: u64,
}

impl Verified {
    fn matches(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: u64,
    ) -> bool {
        now >= self.at
            && now - self.at < CHAIN_TTL_SECS
            && self.end_entity == *end_entity
            && self.intermediates == intermediates
            && self.server_name == *server_name
            && self.ocsp == ocsp
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified").field("at", &self.at).finish()
    }
}

/// A [`ServerCertVerifier`] that asks `inner` about a chain at most once per
/// [`CHAIN_TTL_SECS`] and about every handshake signature always.
#[derive(Debug)]
pub struct ChainCache {
    inner: Arc<dyn ServerCertVerifier>,
    last: Mutex<Option<Verified>>,
}

impl ChainCache {
    pub fn new(inner: Arc<dyn ServerCertVerifier>) -> ChainCache {
        ChainCache {
            inner,
            last: Mutex::new(None),
        }
    }
}

impl ServerCertVerifier for ChainCache {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let secs = now.as_secs();
        if let Ok(last) = self.last.lock() {
            if last.as_ref().is_some_and(|v| {
                v.matches(end_entity, intermediates, server_name, ocsp_response, secs)
            }) {
                return Ok(ServerCertVerified::assertion());
            }
        }
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Verified {
                end_entity: end_entity.clone().into_owned(),
                intermediates: intermediates
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect(),
                server_name: server_name.to_owned(),
                ocsp: ocsp_response.to_vec(),
                at: secs,
            });
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn setup() -> (Arc<Tally>, ChainCache) {
        let counting = Arc::new(Tally::default());
        (counting.clone(), ChainCache::new(counting))
    }

    fn check(cache: &ChainCache, cert: &'static [u8], name: &'static str, at: u64) -> bool {
        let name = ServerName::try_from(name).expect("a valid name");
        cache
            .verify_server_cert(
                &CertificateDer::from(cert),
                &[],
                &name,
                &[],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
            )
            .is_ok()
    }

    #[test]
    fn the_same_chain_within_the_ttl_is_checked_once() {
        let (counting, cache) = setup();
        assert!(check(&cache, b"leaf", "localhost", 1_000));
        assert!(check(&cache, b"leaf", "localhost", 1_000));
        assert_eq!(counting.chains.load(Ordering::SeqCst), 1);
        // A second later it is checked again.
        assert!(check(&cache, b"leaf", "localhost", 1_000 + CHAIN_TTL_SECS));
        assert_eq!(counting.chains.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn another_certificate_or_name_is_checked_anew() {
        let (counting, cache) = setup();
        assert!(check(&cache, b"leaf", "localhost", 5));
        assert!(check(&cache, b"other", "localhost", 5));
        assert!(check(&cache, b"other", "127.0.0.1", 5));
        assert_eq!(counting.chains.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_failed_chain_is_never_remembered() {
        let (counting, cache) = setup();
        assert!(!check(&cache, b"bad", "localhost", 5));
        assert!(!check(&cache, b"bad", "localhost", 5));
        assert_eq!(counting.chains.load(Ordering::SeqCst), 2);
        // And a good chain remembered before does not vouch for it.
        assert!(check(&cache, b"leaf", "localhost", 5));
        assert!(!check(&cache, b"bad", "localhost", 5));
        assert_eq!(counting.chains.load(Ordering::SeqCst), 4);
    }

    /// Counts what it is asked. With an inner verifier (webpki) it passes every question
    /// on; without, it accepts every chain but the certificate `b"bad"`, and every
    /// signature.
    #[derive(Debug, Default)]
    struct Tally {
        inner: Option<Arc<dyn ServerCertVerifier>>,
        chains: AtomicUsize,
        signatures: AtomicUsize,
    }

    impl ServerCertVerifier for Tally {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.chains.fetch_add(1, Ordering::SeqCst);
            match &self.inner {
                Some(inner) => {
                    inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                }
                None if end_entity.as_ref() == b"bad" => Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadSignature,
                )),
                None => Ok(ServerCertVerified::assertion()),
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signatures.fetch_add(1, Ordering::SeqCst);
            match &self.inner {
                Some(inner) => inner.verify_tls12_signature(message, cert, dss),
                None => Ok(HandshakeSignatureValid::assertion()),
            }
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.signatures.fetch_add(1, Ordering::SeqCst);
            match &self.inner {
                Some(inner) => inner.verify_tls13_signature(message, cert, dss),
                None => Ok(HandshakeSignatureValid::assertion()),
            }
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            match &self.inner {
                Some(inner) => inner.supported_verify_schemes(),
                None => vec![SignatureScheme::ECDSA_NISTP256_SHA256],
            }
        }
    }

    /// A full handshake in memory between a client with `client` and a server with
    /// `server`; Err once either side fails.
    fn handshake(
        client: &Arc<rustls::ClientConfig>,
        server: &Arc<rustls::ServerConfig>,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from("localhost").expect("a valid name");
        let mut c = rustls::ClientConnection::new(client.clone(), name)?;
        let mut s = rustls::ServerConnection::new(server.clone())?;
        for _ in 0..10 {
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf)
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
            }
            s.read_tls(&mut buf.as_slice())
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            s.process_new_packets()?;
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf)
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
            }
            c.read_tls(&mut buf.as_slice())
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            c.process_new_packets()?;
        }
        Err(rustls::Error::General("handshake did not finish".into()))
    }

    #[test]
    fn real_handshakes_check_the_chain_once_and_every_signature() {
        let gateway = crate::sim::tls::self_signed().expect("a certificate");
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(gateway.cert_pem.as_bytes()) {
            roots.add(cert.expect("PEM")).expect("a root");
        }
        let provider = Arc::new(super::super::tls::crypto());
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("a verifier");
        let tally = Arc::new(Tally {
            inner: Some(webpki),
            ..Tally::default()
        });
        let client = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainCache::new(tally.clone())))
                .with_no_client_auth(),
        );
        for _ in 0..3 {
            handshake(&client, &gateway.server_config).expect("a trusted gateway");
        }
        assert_eq!(tally.chains.load(Ordering::SeqCst), 1);
        assert_eq!(tally.signatures.load(Ordering::SeqCst), 3);
        // A gateway with another certificate is checked, and refused.
        let stranger = crate::sim::tls::self_signed().expect("a certificate");
        assert!(handshake(&client, &stranger.server_config).is_err());
        assert_eq!(tally.chains.load(Ordering::SeqCst), 2);
    }
}
