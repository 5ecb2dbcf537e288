//! TLS failures in words: every rustls error as one plain line for people (what is wrong,
//! which name or date, how to fix it), as shown in the console, the CSV, a preflight's exit
//! message and the probe's verdict. Never a debug-printed enum.

use std::time::{Duration, UNIX_EPOCH};

use super::certs::PURPOSES;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, Error, ExtendedKeyPurpose, OtherError, PeerIncompatible,
};
use CertificateError as C;

/// What went wrong, in one line of plain words: what, which name or date, how to fix it.
pub fn explain(err: &Error) -> String {
    const MIDDLE: &str = "a faulty TLS server, or something in between altering the connection";
    match err {
        Error::InvalidCertificate(e) => explain_certificate(e),
        Error::AlertReceived(alert) => explain_alert(*alert),
        Error::PeerIncompatible(why) => format!(
            "the gateway and agentstorm have no TLS version or cipher in common{}: agentstorm \
             offers TLS 1.2 and 1.3 with ECDHE and AES-GCM or ChaCha20-Poly1305",
            aside(incompatible(why))
        ),
        Error::InvalidMessage(_) => "the target did not answer in TLS (what it sent is not a TLS \
             record): if it serves plain HTTP, use http:// in the URL; else check the port"
            .into(),
        Error::InappropriateMessage { .. }
        | Error::InappropriateHandshakeMessage { .. }
        | Error::DecryptError => format!("the gateway's TLS is out of order or garbled: {MIDDLE}"),
        Error::PeerMisbehaved(why) => format!(
            "the gateway broke the TLS protocol{}: {MIDDLE}",
            aside(words(&format!("{why:?}")))
        ),
        Error::NoCertificatesPresented => "the gateway sent no certificate: configure a server \
             certificate for this host on the gateway"
            .into(),
        Error::Other(OtherError(e)) => match e.downcast_ref::<webpki::Error>() {
            Some(e) => explain_webpki(e),
            None => format!("TLS failed: {err}"),
        },
        other => format!("TLS failed: {other}"),
    }
}

fn explain_certificate(e: &CertificateError) -> String {
    const GW: &str = "the gateway's certificate";
    match e {
        C::UnknownIssuer => format!(
            "{GW} is not signed by a CA you trust: pass the CA's certificate, or the gateway's \
             own, with --ca-file / target.ca_file, or check that you gave the right file"
        ),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let host = expected.to_str();
            let ip = matches!(expected, ServerName::IpAddress(_));
            let kind = if ip { "IP" } else { "DNS" };
            let names: Vec<String> = presented.iter().map(|n| plain_name(n)).collect();
            match names.as_slice() {
                [] => format!(
                    "{GW} names no host (it has no subjectAltName), so not {host}, the host in \
                     the URL: reissue it with subjectAltName={kind}:{host}"
                ),
                names => format!(
                    "{GW} is for {} — not {host}, the host in the URL: use a URL with one of \
                     those names, or reissue the certificate with subjectAltName={kind}:{host}",
                    list(names)
                ),
            }
        }
        C::NotValidForName => format!(
            "{GW} is not valid for the host in the URL: use a URL with one of its names, or \
             reissue it with a subjectAltName for that host"
        ),
        C::ExpiredContext { time, not_after } => format!(
            "{GW} expired at {} (UTC); this machine's time is {}: renew the certificate, or \
             set this machine's clock if that time is wrong",
            utc(*not_after),
            utc(*time)
        ),
        C::Expired => format!("{GW} has expired: renew it, and check this machine's clock"),
        C::NotValidYetContext { time, not_before } => format!(
            "{GW} is not valid until {} (UTC); this machine's time is {}: check the clocks of \
             this machine and of the issuer, or reissue it with an earlier start date",
            utc(*not_before),
            utc(*time)
        ),
        C::NotValidYet => {
            format!("{GW} is not valid yet: check the clocks of this machine and of the issuer")
        }
        C::BadSignature => format!(
            "a signature does not verify: {GW} is not really signed by the CA it names (another \
             CA of the same name in the CA file?), or the gateway's key does not match it"
        ),
        C::Revoked => format!("{GW} has been revoked by its CA: install a new one on the gateway"),
        C::InvalidPurposeContext { presented, .. } => format!(
            "{GW} is not allowed for TLS servers: its extendedKeyUsage allows only {}, not \
             serverAuth; reissue it with extendedKeyUsage=serverAuth (or without that extension)",
            purpose_list(presented)
        ),
        C::InvalidPurpose => format!(
            "{GW} is not allowed for TLS servers (its extendedKeyUsage lacks serverAuth): reissue \
             it with extendedKeyUsage=serverAuth (or without that extension)"
        ),
        #[allow(deprecated)]
        C::UnsupportedSignatureAlgorithm => unsupported_algorithm(None, None),
        C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id: alg,
            ..
        } => unsupported_algorithm(Some(alg), None),
        C::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id: alg,
            public_key_algorithm_id: key,
        } => unsupported_algorithm(Some(alg), Some(key)),
        C::BadEncoding => format!("{GW} is malformed (not valid DER X.509): reissue it"),
        C::UnhandledCriticalExtension => format!(
            "{GW} has a critical extension agentstorm does not know: reissue it without that \
             extension, or with it not critical"
        ),
        C::Other(OtherError(e)) => match e.downcast_ref::<webpki::Error>() {
            Some(e) => explain_webpki(e),
            None => format!("{GW} was refused: {e}"),
        },
        other => match words(&format!("{other:?}")) {
            Some(w) => format!("{GW} was refused: {w}"),
            None => format!(
                "{GW} was refused: {}",
                Error::InvalidCertificate(other.clone())
            ),
        },
    }
}

fn explain_webpki(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => "the gateway's certificate is a CA certificate (basicConstraints \
             CA:TRUE, as openssl req -x509 makes) used as a server certificate: give that very \
             certificate as --ca-file / target.ca_file to trust it directly"
            .into(),
        W::EndEntityUsedAsCa => "a certificate in the gateway's chain signs another but is not a \
             CA certificate (no CA:TRUE): have the gateway send the right chain"
            .into(),
        W::BadDer | W::BadDerTime | W::TrailingData(_) => explain_certificate(&C::BadEncoding),
        W::UnsupportedCriticalExtension => explain_certificate(&C::UnhandledCriticalExtension),
        other => match words(&format!("{other:?}")) {
            Some(w) => format!("the gateway's certificate was refused: {w}"),
            None => "the gateway's certificate was refused".into(),
        },
    }
}

fn explain_alert(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let name = match alert {
        A::UnknownCA => "unknown CA".to_string(),
        other => (other.as_str().and_then(words))
            .unwrap_or_else(|| format!("number {}", u8::from(other))),
    };
    let hint = match alert {
        A::HandshakeFailure => {
            "usually no cipher or key exchange in common, or the gateway requires a client \
             certificate (agentstorm sends none)"
        }
        A::ProtocolVersion => "the gateway accepts neither TLS 1.2 nor TLS 1.3",
        A::InsufficientSecurity => "the gateway wants stronger ciphers than agentstorm offered",
        A::UnrecognisedName => "the gateway does not serve the host name in the URL",
        A::CertificateRequired | A::NoCertificate => {
            "the gateway requires a client certificate (mutual TLS), which agentstorm does not send"
        }
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateUnknown
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::UnknownCA => "agentstorm sends no client certificate: the gateway may want mutual TLS",
        A::AccessDenied => "an access rule on the gateway, or a proxy in front of it, denies us",
        A::InternalError => "the gateway failed internally: see its logs",
        A::NoApplicationProtocol => "the gateway does not offer HTTP/1.1 (ALPN)",
        _ => "see the gateway's TLS settings and logs",
    };
    format!("the gateway refused the handshake with the TLS alert \"{name}\": {hint}")
}

/// ` (detail)`, or nothing.
fn aside(detail: Option<String>) -> String {
    detail.map(|d| format!(" ({d})")).unwrap_or_default()
}

fn incompatible(why: &PeerIncompatible) -> Option<String> {
    Some(match why {
        PeerIncompatible::NoCipherSuitesInCommon => "no cipher suite in common".into(),
        PeerIncompatible::NoKxGroupsInCommon => "no key exchange group in common".into(),
        PeerIncompatible::NoSignatureSchemesInCommon => "no signature scheme in common".into(),
        PeerIncompatible::ServerDoesNotSupportTls12Or13
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
        | PeerIncompatible::SupportedVersionsExtensionRequired => {
            "the gateway speaks neither TLS 1.2 nor 1.3".into()
        }
        other => return words(&format!("{other:?}")),
    })
}

fn unsupported_algorithm(signature: Option<&[u8]>, key: Option<&[u8]>) -> String {
    let signature = signature.and_then(algorithm_name);
    let signature = signature.unwrap_or_else(|| "an algorithm".into());
    let key = key
        .and_then(algorithm_name)
        .map(|k| format!(" with a {k} key"));
    let key = key.unwrap_or_default();
    format!(
        "the gateway's certificate chain is signed with {signature}{key}, which agentstorm does \
         not accept: reissue it signed with ECDSA P-256/P-384, RSA with SHA-256 or better, or \
         Ed25519"
    )
}

/// The name of the algorithm whose AlgorithmIdentifier contents are `der` (an OID first).
fn algorithm_name(der: &[u8]) -> Option<String> {
    use x509_parser::objects::{oid2sn, oid_registry};
    let (_, obj) = x509_parser::der_parser::der::parse_der_oid(der).ok()?;
    let oid = obj.as_oid().ok()?;
    Some(match oid2sn(oid, oid_registry()) {
        Ok(name) => format!("{name} ({oid})"),
        Err(_) => oid.to_id_string(),
    })
}

fn purpose_list(presented: &[ExtendedKeyPurpose]) -> String {
    let names: Vec<String> = (presented.iter())
        .map(|p| match p {
            ExtendedKeyPurpose::ClientAuth => "clientAuth".into(),
            ExtendedKeyPurpose::ServerAuth => "serverAuth".into(),
            ExtendedKeyPurpose::Other(arcs) => match PURPOSES.iter().find(|(_, a)| a == arcs) {
                Some((name, _)) => name.to_string(),
                None => arcs
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
            },
        })
        .collect();
    match names.is_empty() {
        true => "nothing".into(),
        false => list(&names),
    }
}

/// A subjectAltName entry as webpki reports it (`DnsName("gw.example")`,
/// `IpAddress(10.0.0.1)`) as a person writes it (`gw.example`, `10.0.0.1`).
fn plain_name(presented: &str) -> String {
    let inner = |prefix: &str, suffix: &str| {
        presented
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .map(str::to_string)
    };
    inner("DnsName(\"", "\")")
        .or_else(|| inner("IpAddress(", ")"))
        .or_else(|| inner("UniformResourceIdentifier(\"", "\")").map(|u| format!("URI {u}")))
        .unwrap_or_else(|| match presented {
            "DirectoryName" => "a directory name".into(),
            other => other.to_string(),
        })
}

/// `a, b, c, d, e and 2 more`: at most five names, so that the line stays short.
fn list(names: &[String]) -> String {
    let shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    match names.len().checked_sub(5) {
        Some(more) if more > 0 => format!("{shown} and {more} more"),
        _ => shown,
    }
}

/// `2021-01-01T00:00:00Z`; seconds since 1970 past the year 9999 (which RFC 3339 lacks).
fn utc(t: UnixTime) -> String {
    match t.as_secs() {
        secs @ 0..253_402_300_800 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        secs => format!("{secs} seconds after 1970"),
    }
}

/// `CaUsedAsEndEntity` → `ca used as end entity`, `UnknownPSKIdentity` → `unknown PSK
/// identity`: a plain variant name in words; None for anything else (data in the value).
fn words(name: &str) -> Option<String> {
    let c: Vec<char> = name.chars().collect();
    if c.is_empty() || !c.iter().all(char::is_ascii_alphanumeric) {
        return None;
    }
    let mut spaced = String::new();
    for (i, &ch) in c.iter().enumerate() {
        let (prev, next) = (i.checked_sub(1).map(|j| c[j]), c.get(i + 1));
        let acronym_ends = next.is_some_and(char::is_ascii_lowercase);
        if ch.is_ascii_uppercase() && prev.is_some_and(|p| !p.is_ascii_uppercase() || acronym_ends)
        {
            spaced.push(' ');
        }
        spaced.push(ch);
    }
    let word = |w: &str| match w.len() > 1 && !w.chars().any(|c| c.is_ascii_lowercase()) {
        true => w.to_string(),
        false => w.to_ascii_lowercase(),
    };
    Some(spaced.split(' ').map(word).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use AlertDescription as A;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn names_dates_and_fixes_are_in_plain_words() {
        let (y2021, y2023, end) = (at(1_609_459_200), at(1_700_000_000), at(u64::MAX));
        let expired = |time, not_after| Error::from(C::ExpiredContext { time, not_after });
        let early = |time, not_before| Error::from(C::NotValidYetContext { time, not_before });
        let expected = ServerName::try_from("gw.example").expect("a name");
        // The names as webpki reports them.
        let presented = vec!["DnsName(\"localhost\")".into(), "IpAddress(::1)".into()];
        let wrong_host = C::NotValidForNameContext {
            expected,
            presented,
        };
        let many = (0..8).map(|i| format!("DnsName(\"h{i}\")")).collect();
        let expected = ServerName::try_from("10.0.0.1").expect("a name");
        let many_hosts = C::NotValidForNameContext {
            expected,
            presented: many,
        };
        let required = ExtendedKeyPurpose::ServerAuth;
        let presented = vec![
            ExtendedKeyPurpose::ClientAuth,
            ExtendedKeyPurpose::Other(PURPOSES[1].1.to_vec()),
            ExtendedKeyPurpose::Other(vec![1, 2, 3]),
        ];
        let client_only = C::InvalidPurposeContext {
            required,
            presented,
        };
        let sha1_rsa = C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id: vec![6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 5, 5, 0],
            supported_algorithms: Vec::new(),
        };
        let ca = C::Other(OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity)));
        let alert = Error::AlertReceived;
        let old_tls = PeerIncompatible::ServerDoesNotSupportTls12Or13;
        let cases: Vec<(Error, &[&str])> = vec![
            (
                C::UnknownIssuer.into(),
                &["not signed by a CA you trust", "--ca-file"],
            ),
            (
                wrong_host.into(),
                &["for localhost, ::1 — not gw.example", "DNS:gw.example"],
            ),
            (
                many_hosts.into(),
                &["h3, h4 and 3 more — not 10.0.0.1", "=IP:10.0.0.1"],
            ),
            (
                expired(y2023, y2021),
                &["at 2021-01-01T00:00:00Z", "is 2023-11-14T22:13:20Z"],
            ),
            (
                early(y2021, y2023),
                &["until 2023-11-14T22:13:20Z", "is 2021-01-01T00:00:00Z"],
            ),
            (
                expired(end, at(0)),
                &["1970-01-01T00:00:00Z", "is 18446744073709551615 sec"],
            ),
            (
                ca.into(),
                &[
                    "is a CA certificate",
                    "give that very certificate as --ca-file",
                ],
            ),
            (
                client_only.into(),
                &["only clientAuth, codeSigning, 1.2.3, not serverAuth"],
            ),
            (
                sha1_rsa.into(),
                &["with sha1WithRSAEncryption (1.2.840.113549.1.1.5)"],
            ),
            (C::BadSignature.into(), &["signature does not verify"]),
            (
                Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                &["did not answer in TLS", "use http://"],
            ),
            (alert(A::HandshakeFailure), &["alert \"handshake failure\""]),
            (
                alert(A::UnknownPSKIdentity),
                &["alert \"unknown PSK identity\""],
            ),
            (alert(A::UnknownCA), &["alert \"unknown CA\"", "mutual TLS"]),
            (alert(A::Unknown(250)), &["alert \"number 250\""]),
            (
                old_tls.into(),
                &[
                    "no TLS version or cipher in common",
                    "neither TLS 1.2 nor 1.3",
                ],
            ),
            (Error::NoCertificatesPresented, &["sent no certificate"]),
            (Error::General("boom".into()), &["TLS failed", "boom"]),
        ];
        for (err, wanted) in cases {
            let m = explain(&err);
            for w in wanted {
                assert!(m.contains(w), "{w:?} not in {m}");
            }
            for debug in ["Context {", "Other(", "DnsName", "{ ", "Certificate("] {
                assert!(!m.contains(debug), "debug text {debug:?} in {m}");
            }
            assert!(!m.contains('\n'), "one line: {m}");
            // The preflight drops a cause that repeats its own "TLS handshake failed".
            assert!(!m.to_lowercase().contains("tls handshake failed"), "{m}");
        }
        assert_eq!(
            words("Tls12NotOffered").as_deref(),
            Some("tls12 not offered")
        );
        assert_eq!(words("Some([1])"), None);
    }
}
