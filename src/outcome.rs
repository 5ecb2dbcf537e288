//! The two outcome kinds both the client and the metrics need: why a call produced no
//! readable reply ([`TransportKind`]) and the gateway's business result code ([`Retcode`]),
//! kept inline (gateway codes are at most 7 characters; a longer one from a misbehaving
//! gateway is cut to [`Retcode::CAPACITY`] bytes and marked with `~`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a request did not produce an HTTP response that could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// TCP connect refused (nothing listening).
    ConnectRefused,
    /// TCP connect did not finish in time.
    ConnectTimeout,
    /// Any other connect failure (no route, address in use, out of ports or files).
    Connect,
    /// TLS handshake failed (certificate, protocol).
    Tls,
    /// The connection was reset or closed before a full reply.
    Reset,
    /// No full reply within the request timeout.
    Timeout,
    /// The reply was not valid HTTP/1.1.
    Protocol,
    /// HTTP 200, but the body was not the JSON envelope the protocol promises.
    BadBody,
}

impl TransportKind {
    pub const ALL: [TransportKind; 8] = [
        TransportKind::ConnectRefused,
        TransportKind::ConnectTimeout,
        TransportKind::Connect,
        TransportKind::Tls,
        TransportKind::Reset,
        TransportKind::Timeout,
        TransportKind::Protocol,
        TransportKind::BadBody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TransportKind::ConnectRefused => "connect_refused",
            TransportKind::ConnectTimeout => "connect_timeout",
            TransportKind::Connect => "connect",
            TransportKind::Tls => "tls",
            TransportKind::Reset => "reset",
            TransportKind::Timeout => "timeout",
            TransportKind::Protocol => "protocol",
            TransportKind::BadBody => "bad_body",
        }
    }

    /// Whether this failure happened while opening the connection (nothing reached the
    /// gateway's HTTP layer), which matters when reconciling against its counters.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            TransportKind::ConnectRefused
                | TransportKind::ConnectTimeout
                | TransportKind::Connect
                | TransportKind::Tls
        )
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A gateway retcode held inline (no allocation per sample).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Retcode {
    len: u8,
    bytes: [u8; Retcode::CAPACITY],
}

impl Retcode {
    pub const CAPACITY: usize = 15;
    pub const SUCCESS: Retcode = Retcode::from_static("0");

    /// A code known at compile time, of at most [`Retcode::CAPACITY`] bytes (longer ones are
    /// cut without the `~` mark: use [`Retcode::new`] for text from a gateway).
    pub(crate) const fn from_static(s: &str) -> Retcode {
        let src = s.as_bytes();
        let mut bytes = [0u8; Retcode::CAPACITY];
        let mut i = 0;
        while i < src.len() && i < Retcode::CAPACITY {
            bytes[i] = src[i];
            i += 1;
        }
        Retcode {
            len: i as u8,
            bytes,
        }
    }

    /// Keeps `text` (cut to the capacity on a character boundary, marked with `~`).
    pub fn new(text: &str) -> Retcode {
        if text.len() <= Retcode::CAPACITY {
            return Retcode::from_static(text);
        }
        let mut end = Retcode::CAPACITY - 1;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut r = Retcode::from_static(&text[..end]);
        r.bytes[end] = b'~';
        r.len = end as u8 + 1;
        r
    }

    pub fn as_str(&self) -> &str {
        // Built only from `&str` cut on a char boundary plus an ASCII marker.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }

    pub fn is_success(&self) -> bool {
        *self == Retcode::SUCCESS
    }
}

impl fmt::Debug for Retcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Retcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Retcode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Retcode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Retcode::new(&s))
    }
}
