//! Session GUIDs (D9) and their dynamic rotation with grace (D10).
//!
//! Owns the GUID value, its precomputed reply headers and the pure rotation rule; it does
//! not know where a GUID is stored or when a reply is sent.

use http::HeaderValue;
use tokio::time::{Duration, Instant};

use super::reply::GuidHeaders;
use crate::protocol::SET_GUID_PREFIX;

/// One issued GUID, `<uuid>.<node>`, with its header values built once.
#[derive(Debug, Clone)]
pub struct Guid {
    text: Box<str>,
    headers: GuidHeaders,
}

impl Guid {
    pub fn new(node: &str) -> Guid {
        let text = format!("{}.{}", uuid::Uuid::new_v4(), node);
        Guid::from_text(text)
    }

    fn from_text(text: String) -> Guid {
        // The text is a UUID, a dot and a validated node name: always a valid header value.
        let fallback = || HeaderValue::from_static("invalid");
        let guid = HeaderValue::from_str(&text).unwrap_or_else(|_| fallback());
        let set_guid = HeaderValue::from_str(&format!("{SET_GUID_PREFIX}{text}"))
            .unwrap_or_else(|_| fallback());
        Guid {
            text: text.into_boxed_str(),
            headers: GuidHeaders {
                guid,
                set_guid,
                with_guid: false,
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, presented: &[u8]) -> bool {
        self.text.as_bytes() == presented
    }

    /// `Set-GUID` only (rotation on a poll or heartbeat reply).
    pub fn set_guid_headers(&self) -> GuidHeaders {
        self.headers.clone()
    }

    /// `Set-GUID` and `Guid` (sign-in replies).
    pub fn signin_headers(&self) -> GuidHeaders {
        GuidHeaders {
            with_guid: true,
            ..self.headers.clone()
        }
    }
}

/// Which GUID a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidCheck {
    Current,
    /// The previous GUID, still within its grace period.
    Previous,
    Wrong,
}

/// The GUIDs of one session: the current one and, for a while, the previous one.
#[derive(Debug, Clone)]
pub struct GuidState {
    pub current: Guid,
    /// Issued at (for rotation).
    pub issued: Instant,
    /// The previous GUID and when it stops working.
    pub previous: Option<(Guid, Instant)>,
}

impl GuidState {
    pub fn new(node: &str, now: Instant) -> GuidState {
        GuidState {
            current: Guid::new(node),
            issued: now,
            previous: None,
        }
    }

    pub fn check(&self, presented: &[u8], now: Instant) -> GuidCheck {
        if self.current.matches(presented) {
            return GuidCheck::Current;
        }
        match &self.previous {
            Some((prev, until)) if now < *until && prev.matches(presented) => GuidCheck::Previous,
            _ => GuidCheck::Wrong,
        }
    }

    /// Replaces the current GUID now; the old one keeps working for `grace`.
    pub fn replace(&mut self, node: &str, now: Instant, grace: Duration) {
        let old = std::mem::replace(&mut self.current, Guid::new(node));
        self.previous = Some((old, now + grace));
        self.issued = now;
    }

    /// Dynamic mode, at a poll or heartbeat reply: rotates when `interval` has passed since
    /// the current GUID was issued. Returns the `Set-GUID` headers to send when the client
    /// must adopt a GUID other than the one it presented.
    pub fn on_reply(
        &mut self,
        presented: GuidCheck,
        dynamic: Option<(Duration, Duration)>,
        node: &str,
        now: Instant,
    ) -> Option<GuidHeaders> {
        let mut deliver = presented != GuidCheck::Current;
        if let Some((interval, grace)) = dynamic {
            if now.duration_since(self.issued) >= interval {
                self.replace(node, now, grace);
                deliver = true;
            }
        }
        deliver.then(|| self.current.set_guid_headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_uuid_dot_node() {
        let g = Guid::new("AgentGateway0");
        let (uuid, node) = g.as_str().split_once('.').expect("dot");
        assert_eq!(node, "AgentGateway0");
        assert!(uuid::Uuid::parse_str(uuid).is_ok());
        let h = g.signin_headers();
        assert_eq!(
            h.set_guid.to_str().ok(),
            Some(format!("JSESSIONID={}", g.as_str()).as_str())
        );
        assert!(h.with_guid);
    }

    #[test]
    fn rotation_and_grace() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut st = GuidState::new("N", t0);
        let first = st.current.as_str().to_string();
        let dynamic = Some((s(60), s(30)));
        // Before the interval: nothing to deliver.
        assert!(st
            .on_reply(GuidCheck::Current, dynamic, "N", t0 + s(59))
            .is_none());
        // At the interval: rotated and delivered.
        let h = st
            .on_reply(GuidCheck::Current, dynamic, "N", t0 + s(60))
            .expect("rotated");
        assert_ne!(st.current.as_str(), first);
        assert!(h
            .set_guid
            .to_str()
            .unwrap_or("")
            .ends_with(st.current.as_str()));
        // The old one works during the grace, then not.
        assert_eq!(st.check(first.as_bytes(), t0 + s(89)), GuidCheck::Previous);
        assert_eq!(st.check(first.as_bytes(), t0 + s(90)), GuidCheck::Wrong);
        // Static mode never rotates but re-delivers to a client on the old GUID.
        let mut st = GuidState::new("N", t0);
        assert!(st
            .on_reply(GuidCheck::Current, None, "N", t0 + s(600))
            .is_none());
        assert!(st
            .on_reply(GuidCheck::Previous, None, "N", t0 + s(600))
            .is_some());
    }
}
