//! Certificates trusted as given: [`DirectTrust`], the server-certificate check for a CA
//! file. A gateway
//! whose certificate is byte for byte one of the file's certificates is trusted directly,
//! as `curl --cacert` does, even when that certificate is a CA (`openssl req -x509` marks
//! it CA:TRUE, which webpki refuses as a server certificate); its name, validity dates and
//! extendedKeyUsage are still checked, and so is every handshake signature. Any other
//! certificate goes to webpki's chain check as before. A failure in words is
//! [`super::explain`]'s.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, DigitallySignedStruct, Error, ExtendedKeyPurpose, OtherError, SignatureScheme,
};
use x509_parser::prelude::{FromDer as _, X509Certificate};
use CertificateError as C;

/// Trusts the CA file's own certificates as server certificates, and asks `chains`
/// (webpki) about every other certificate and about every handshake signature.
pub struct DirectTrust {
    ca_file: Vec<CertificateDer<'static>>,
    chains: Verifier,
}

type Verifier = Arc<dyn ServerCertVerifier>;

impl DirectTrust {
    pub fn new(ca_file: Vec<CertificateDer<'static>>, chains: Verifier) -> DirectTrust {
        DirectTrust { ca_file, chains }
    }
}

impl std::fmt::Debug for DirectTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.ca_file.len();
        write!(f, "DirectTrust({n} certificates, else {:?})", self.chains)
    }
}

impl ServerCertVerifier for DirectTrust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.ca_file.iter().any(|c| c == end_entity) {
            return verify_direct(end_entity, server_name, now);
        }
        self.chains
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chains.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chains.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chains.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.chains.root_hint_subjects()
    }
}

/// What a certificate trusted as given must still be: parsable, valid at `now`, allowed
/// for TLS servers (when it limits its purposes) and issued for `server_name`.
pub fn verify_direct(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, Error> {
    let end_entity = webpki::EndEntityCert::try_from(cert).map_err(pki_error)?;
    let (_, x509) = X509Certificate::from_der(cert.as_ref()).map_err(|_| C::BadEncoding)?;
    let validity = x509.validity();
    let at = |t: i64| UnixTime::since_unix_epoch(Duration::from_secs(t.max(0) as u64));
    let not_before = at(validity.not_before.timestamp());
    let not_after = at(validity.not_after.timestamp());
    let time = now;
    if time.as_secs() < not_before.as_secs() {
        return Err(C::NotValidYetContext { time, not_before }.into());
    }
    if time.as_secs() > not_after.as_secs() {
        return Err(C::ExpiredContext { time, not_after }.into());
    }
    let eku = x509.extended_key_usage().map_err(|_| C::BadEncoding)?;
    if let Some(eku) = eku.filter(|eku| !eku.value.server_auth) {
        let required = ExtendedKeyPurpose::ServerAuth;
        let presented = purposes(eku.value);
        return Err(C::InvalidPurposeContext {
            required,
            presented,
        }
        .into());
    }
    end_entity
        .verify_is_valid_for_subject_name(server_name)
        .map_err(pki_error)?;
    Ok(ServerCertVerified::assertion())
}

/// Purposes an extendedKeyUsage may name besides clientAuth and serverAuth (OID arcs).
pub(super) const PURPOSES: [(&str, &[usize]); 5] = [
    ("anyExtendedKeyUsage", &[2, 5, 29, 37, 0]),
    ("codeSigning", &[1, 3, 6, 1, 5, 5, 7, 3, 3]),
    ("emailProtection", &[1, 3, 6, 1, 5, 5, 7, 3, 4]),
    ("timeStamping", &[1, 3, 6, 1, 5, 5, 7, 3, 8]),
    ("OCSPSigning", &[1, 3, 6, 1, 5, 5, 7, 3, 9]),
];

/// The purposes an extendedKeyUsage extension names, as rustls reports them.
fn purposes(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<ExtendedKeyPurpose> {
    let mut out = Vec::new();
    if eku.client_auth {
        out.push(ExtendedKeyPurpose::ClientAuth);
    }
    let e = eku;
    let flags = [
        e.any,
        e.code_signing,
        e.email_protection,
        e.time_stamping,
        e.ocsp_signing,
    ];
    for ((_, arcs), _) in PURPOSES.iter().zip(flags).filter(|(_, on)| *on) {
        out.push(ExtendedKeyPurpose::Other(arcs.to_vec()));
    }
    for arcs in eku.other.iter().filter_map(|oid| oid.iter()) {
        let arcs = arcs.map(|a| usize::try_from(a).unwrap_or(usize::MAX));
        out.push(ExtendedKeyPurpose::Other(arcs.collect()));
    }
    out
}

/// webpki's verdict as rustls reports it (as rustls' own webpki verifier maps it).
fn pki_error(e: webpki::Error) -> Error {
    use webpki::Error as W;
    match e {
        W::BadDer | W::BadDerTime | W::TrailingData(_) => C::BadEncoding.into(),
        W::UnsupportedCriticalExtension => C::UnhandledCriticalExtension.into(),
        W::CertNotValidForName(cx) => {
            let (expected, presented) = (cx.expected, cx.presented);
            C::NotValidForNameContext {
                expected,
                presented,
            }
            .into()
        }
        other => C::Other(OtherError(Arc::new(other))).into(),
    }
}
