//! The front's routing choice (D19), pure: which node a request goes to, from the node its
//! sticky cookie or GUID names (if any), which nodes are up, and a round-robin ticket; and
//! reading those names off the request's headers.
//!
//! No clock, no socket, no lock: the front in `front` gathers the inputs and acts on the
//! answer.

use http::header::COOKIE;
use http::HeaderMap;

use super::model::Stickiness;

/// Where one request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The node's index.
    pub node: usize,
    /// The reply sets the sticky cookie to this node (cookie stickiness, when the request
    /// had no cookie naming a node that is up).
    pub set_cookie: bool,
}

/// Nodes that are up, one bit per node (at most 64 nodes).
pub type Live = u64;

/// Whether node `k` is up in `live`.
pub fn is_up(live: Live, k: usize) -> bool {
    k < 64 && live & (1 << k) != 0
}

/// The first node up from `ticket` on (modulo `n`), round robin.
pub fn next_live(ticket: usize, n: usize, live: Live) -> Option<usize> {
    (0..n).map(|i| (ticket + i) % n).find(|&k| is_up(live, k))
}

/// The node for a request: the one `sticky` names when it is up (no cookie to set), else
/// the next one up round robin from `ticket()` (with cookie stickiness the reply then sets
/// the cookie). `stickiness = none` ignores `sticky`. None when no node is up. A ticket is
/// taken only when round robin decides, so sticky requests do not move the rotation.
pub fn choose(
    stickiness: Stickiness,
    sticky: Option<usize>,
    ticket: impl FnOnce() -> usize,
    n: usize,
    live: Live,
) -> Option<Choice> {
    if stickiness != Stickiness::None {
        if let Some(k) = sticky.filter(|&k| k < n && is_up(live, k)) {
            return Some(Choice {
                node: k,
                set_cookie: false,
            });
        }
    }
    next_live(ticket(), n, live).map(|node| Choice {
        node,
        set_cookie: stickiness == Stickiness::Cookie,
    })
}

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The node part of a GUID: what follows its last dot (`<uuid>.AgentGateway1` →
/// `AgentGateway1`). None when it has no dot.
pub fn guid_node(guid: &[u8]) -> Option<&[u8]> {
    let dot = guid.iter().rposition(|&b| b == b'.')?;
    Some(&guid[dot + 1..])
}

/// The index of the node called `name`.
pub fn node_index(names: &[Box<str>], name: &[u8]) -> Option<usize> {
    names.iter().position(|n| n.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const ALL3: Live = 0b111;

    #[test]
    fn cookie_goes_to_its_node_while_it_is_up() {
        let c = |sticky, ticket, live| choose(Stickiness::Cookie, sticky, || ticket, 3, live);
        let at = |node, set_cookie| Some(Choice { node, set_cookie });
        assert_eq!(c(Some(2), 0, ALL3), at(2, false));
        // No cookie, or a cookie naming no node: round robin, and the cookie is set.
        assert_eq!(c(None, 0, ALL3), at(0, true));
        assert_eq!(c(None, 4, ALL3), at(1, true));
        assert_eq!(c(Some(7), 2, ALL3), at(2, true));
        // Its node is down: the next one up, and the cookie is set again.
        assert_eq!(c(Some(1), 1, 0b101), at(2, true));
        assert_eq!(c(Some(1), 0, 0b101), at(0, true));
        assert_eq!(c(Some(0), 0, 0), None, "no node up");
    }

    #[test]
    fn guid_and_none() {
        let at = |node, set_cookie| Some(Choice { node, set_cookie });
        let g = |sticky, ticket: usize, live| choose(Stickiness::Guid, sticky, || ticket, 3, live);
        assert_eq!(g(Some(1), 0, ALL3), at(1, false));
        assert_eq!(g(None, 5, ALL3), at(2, false));
        assert_eq!(g(Some(1), 1, 0b001), at(0, false));
        // A sticky choice takes no ticket.
        let sticky = choose(Stickiness::Cookie, Some(1), || panic!("no ticket"), 3, ALL3);
        assert_eq!(sticky, at(1, false));
        // Without stickiness the name is ignored: round robin every request.
        let none = |ticket: usize| choose(Stickiness::None, Some(1), || ticket, 3, ALL3);
        assert_eq!(none(0), at(0, false));
        assert_eq!(none(2), at(2, false));
        assert_eq!(next_live(7, 3, 0b100), Some(2));
        assert_eq!(next_live(0, 3, 0), None);
    }

    #[test]
    fn reads_cookies_and_guid_suffixes() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; AGWNODE=AgentGateway2"),
        );
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "AGWNODE"), Some("AgentGateway2"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "AGW"), None);
        assert_eq!(cookie(&HeaderMap::new(), "AGWNODE"), None);
        let names: Vec<Box<str>> = vec!["AgentGateway0".into(), "AgentGateway1".into()];
        let g = b"279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway1";
        assert_eq!(guid_node(g), Some(&b"AgentGateway1"[..]));
        assert_eq!(guid_node(g).and_then(|n| node_index(&names, n)), Some(1));
        assert_eq!(guid_node(b"no-dot"), None);
        assert_eq!(node_index(&names, b"AgentGateway7"), None);
    }
}
