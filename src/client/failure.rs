//! A failed call in words and kinds: which [`TransportKind`] an error is (walking its
//! chain of causes), its root cause for people (a TLS failure explained by
//! [`super::explain::explain`]), and a human phrase for each kind.

use std::error::Error as StdError;

use super::explain;
use crate::outcome::TransportKind;

/// A human phrase for a transport failure.
pub fn describe(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::ConnectRefused => "connection refused",
        TransportKind::ConnectTimeout => "connect timed out",
        TransportKind::Connect => "cannot connect",
        TransportKind::Tls => "TLS handshake failed",
        TransportKind::Reset => "connection reset",
        TransportKind::Timeout => "no reply in time",
        TransportKind::Protocol => "reply is not valid HTTP/1.1",
        TransportKind::BadBody => "reply body is not the gateway's JSON",
    }
}

/// The cause of a connect error, for people: a TLS failure in words ([`super::explain::explain`]:
/// `the gateway's certificate is not signed by a CA you trust: …`), else the innermost
/// cause (`Connection refused (os error 111)`).
pub(super) fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return explain::explain(tls);
        }
        last = err.to_string();
        cur = next_cause(err);
    }
    last
}

/// The error inside `e`: for a wrapped io::Error its payload (io::Error's `source()`
/// skips the payload and returns the payload's own source), else `source()`.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

pub(super) fn classify_connect(e: &(dyn StdError + 'static)) -> TransportKind {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return TransportKind::Tls;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return TransportKind::ConnectRefused,
                std::io::ErrorKind::TimedOut => return TransportKind::ConnectTimeout,
                std::io::ErrorKind::InvalidData => return TransportKind::Tls,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof => {
                    return TransportKind::Tls
                }
                _ => {}
            }
        }
        cur = next_cause(err);
    }
    TransportKind::Connect
}

pub(super) fn classify_hyper(e: &hyper::Error) -> TransportKind {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        TransportKind::Protocol
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Reset
    }
}

/// A failed exchange's reason in words: hyper's own message, except for a reply head
/// longer than the connection's read buffer, which says which setting decides it.
pub(super) fn hyper_reason(e: &hyper::Error, read_buffer: Option<usize>) -> String {
    match read_buffer {
        Some(n) if e.is_parse_too_large() => format!(
            "the reply's head (status line and headers) is longer than the {n}-byte read \
             buffer: set [target] read_buffer_bytes larger, or to \"adaptive\""
        ),
        _ => e.to_string(),
    }
}
