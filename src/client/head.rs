//! One pass over a reply's head: everything the client reads from every reply's headers
//! (`Connection: close`, whether it sets cookies, the `Set-GUID` / `Guid` values, the
//! simulated gateway's name) and the head's length, found in a single walk of the header
//! map rather than one hashed lookup per header asked for — this runs on every reply.
//! (`Retry-After`, read only on a 429 or 503, is looked up where that failure is made.)

use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::protocol::{HEADER_GUID, HEADER_SET_GUID, HEADER_SIM_GATEWAY};

/// The GUID headers' names, checked once at compile time rather than parsed per reply.
const SET_GUID: HeaderName = HeaderName::from_static(HEADER_SET_GUID);
const GUID: HeaderName = HeaderName::from_static(HEADER_GUID);
const SIM_GATEWAY: HeaderName = HeaderName::from_static(HEADER_SIM_GATEWAY);

/// What a reply's headers say, as the client reads them. Where a header comes more than
/// once, the first value counts (as `HeaderMap::get` would give it), except `Set-Cookie`,
/// which the cookie jar reads whole.
#[derive(Debug, Default, Clone, Copy)]
pub struct Head<'a> {
    /// Bytes of the header lines as on the wire, near enough: `name: value\r\n` each.
    header_bytes: usize,
    /// The first `Connection` value is `close` (any letter case).
    pub closes: bool,
    /// At least one `Set-Cookie`.
    pub sets_cookie: bool,
    /// The first `Set-GUID` value.
    pub set_guid: Option<&'a HeaderValue>,
    /// The first `Guid` value.
    pub guid: Option<&'a HeaderValue>,
    /// An `x-agentstorm-gateway` header: the reply came from agentstorm's simulator.
    pub names_simulator: bool,
}

impl<'a> Head<'a> {
    /// Reads `headers` in one walk.
    pub fn read(headers: &'a HeaderMap) -> Head<'a> {
        let mut head = Head::default();
        let mut connection_seen = false;
        for (name, value) in headers {
            head.header_bytes += name.as_str().len() + ": \r\n".len() + value.len();
            if name == header::CONNECTION {
                if !connection_seen {
                    connection_seen = true;
                    head.closes = value.as_bytes().eq_ignore_ascii_case(b"close");
                }
            } else if name == header::SET_COOKIE {
                head.sets_cookie = true;
            } else if name == SET_GUID {
                head.set_guid.get_or_insert(value);
            } else if name == GUID {
                head.guid.get_or_insert(value);
            } else if name == SIM_GATEWAY {
                head.names_simulator = true;
            }
        }
        head
    }

    /// The whole head's length in bytes as it came on the wire, near enough: the status
    /// line (`HTTP/1.1 200 OK`), each header line and the blank line that ends the head.
    pub fn len(&self, status: StatusCode) -> u32 {
        let status_line = "HTTP/1.1 200 \r\n".len() + status.canonical_reason().map_or(0, str::len);
        (status_line + self.header_bytes + 2).min(u32::MAX as usize) as u32
    }
}

/// A header map of `pairs` in order, repeated names kept (for the client's tests).
#[cfg(test)]
pub(super) fn header_map(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().expect("valid header value"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::header_map as map;
    use super::*;

    #[test]
    fn one_walk_finds_what_lookups_would() {
        let h = map(&[
            ("content-type", "application/json"),
            ("Connection", "Close"),
            ("connection", "keep-alive"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("Set-GUID", "JSESSIONID=first"),
            ("set-guid", "JSESSIONID=second"),
            ("GUID", "g1"),
            ("x-agentstorm-gateway", "node-1"),
        ]);
        let head = Head::read(&h);
        // As `get` gives them: the first of each.
        assert_eq!(head.closes, h.get(header::CONNECTION).unwrap() == "Close");
        assert!(head.closes);
        assert_eq!(head.set_guid, h.get(SET_GUID));
        assert_eq!(head.set_guid.unwrap(), "JSESSIONID=first");
        assert_eq!(head.guid, h.get(GUID));
        assert!(head.sets_cookie);
        assert!(head.names_simulator);

        let plain = map(&[("connection", "keep-alive"), ("connection", "close")]);
        let head = Head::read(&plain);
        assert!(!head.closes, "only the first Connection value counts");
        assert!(!head.sets_cookie && !head.names_simulator);
        assert_eq!((head.set_guid, head.guid), (None, None));
    }

    #[test]
    fn the_length_is_the_head_as_written_on_the_wire() {
        let h = map(&[("content-length", "2"), ("x-a", "bc")]);
        let wire = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: bc\r\n\r\n";
        assert_eq!(Head::read(&h).len(StatusCode::OK) as usize, wire.len());
        let empty = HeaderMap::new();
        assert_eq!(
            Head::read(&empty).len(StatusCode::SERVICE_UNAVAILABLE) as usize,
            "HTTP/1.1 503 Service Unavailable\r\n\r\n".len()
        );
    }
}
