//! One agent's cookies. In cluster mode the agents talk to the load balancer (NSLB), which
//! keeps an agent on the node that issued its GUID by a cookie it sets; a real client
//! replays every `Set-Cookie` on the session's later calls. The jar keeps what the gateway
//! or its load balancer set (name, value, `Path`, `Domain` as far as one host needs,
//! `Max-Age`/`Expires`, `Secure`), sends it back as one `Cookie` header on every later
//! request it applies to, and is emptied when the session ends.
//!
//! Parsing is the `cookie` crate's; the jar is a small vector (an agent holds one or two
//! cookies) that allocates nothing until the first cookie comes. Pure: the clock is passed
//! in, so it is tested without one.

use std::time::{Duration, Instant, SystemTime};

use http::{header, HeaderMap, HeaderValue};

/// Most cookies one agent keeps; further new names are ignored (a gateway cannot grow an
/// agent's memory without bound).
pub const MAX_COOKIES: usize = 8;
/// Longest `name=value` kept, in bytes; a longer cookie is ignored.
pub const MAX_COOKIE_BYTES: usize = 1024;

/// The cookies of one agent's session.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Stored>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: Box<str>,
    value: Box<str>,
    path: Box<str>,
    /// None: a session cookie (kept until the jar is emptied).
    expires: Option<Instant>,
    secure: bool,
}

/// Where the reply came from and when, for the attributes that depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The target's host name or address, without port.
    pub host: &'a str,
    /// The request's path (for the default `Path`).
    pub path: &'a str,
    pub https: bool,
    pub now: Instant,
    pub wall: SystemTime,
}

impl Jar {
    /// Whether no cookie is kept.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Forgets every cookie (the session ended).
    pub fn clear(&mut self) {
        // Dropped, not emptied: the next session starts without the allocation.
        self.cookies = Vec::new();
    }

    /// Takes every `Set-Cookie` of a reply.
    pub fn store_from(&mut self, headers: &HeaderMap, origin: Origin<'_>) {
        for value in headers.get_all(header::SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                self.store(text, origin);
            }
        }
    }

    /// Takes one `Set-Cookie` value: stores, replaces or (expired) removes the cookie of
    /// that name and path. A value that does not parse, is too long, names another domain,
    /// or is `Secure` over plain HTTP is ignored, as a browser ignores it.
    pub fn store(&mut self, set_cookie: &str, origin: Origin<'_>) {
        let Ok(c) = cookie::Cookie::parse(set_cookie) else {
            return;
        };
        if c.name().is_empty() || c.name().len() + c.value().len() > MAX_COOKIE_BYTES {
            return;
        }
        if let Some(domain) = c.domain() {
            if !domain_matches(origin.host, domain) {
                return;
            }
        }
        let secure = c.secure().unwrap_or(false);
        if secure && !origin.https {
            return;
        }
        let path = match c.path() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => default_path(origin.path),
        };
        // Max-Age wins over Expires (RFC 6265 §5.3).
        let expires = match (c.max_age(), c.expires_datetime()) {
            (Some(age), _) => Some(
                age.whole_seconds()
                    .try_into()
                    .map(|s: u64| origin.now + Duration::from_secs(s.min(10 * 365 * 86_400)))
                    .unwrap_or(origin.now),
            ),
            (None, Some(at)) => {
                let at = SystemTime::from(at);
                Some(match at.duration_since(origin.wall) {
                    Ok(left) => origin.now + left.min(Duration::from_secs(10 * 365 * 86_400)),
                    Err(_) => origin.now,
                })
            }
            (None, None) => None,
        };
        let list = &mut self.cookies;
        list.retain(|s| !(*s.name == *c.name() && *s.path == *path));
        if expires.is_some_and(|e| e <= origin.now) {
            return;
        }
        if list.len() >= MAX_COOKIES {
            return;
        }
        list.push(Stored {
            name: c.name().into(),
            value: c.value().into(),
            path: path.into(),
            expires,
            secure,
        });
    }

    /// The `Cookie` header for a request to `path`: every unexpired cookie whose path
    /// matches (and, over plain HTTP, that is not `Secure`), longest path first as RFC 6265
    /// §5.4 orders them; None when there is none.
    pub fn header(&mut self, path: &str, https: bool, now: Instant) -> Option<HeaderValue> {
        let list = &mut self.cookies;
        list.retain(|s| s.expires.is_none_or(|e| e > now));
        if list.is_empty() {
            return None;
        }
        let mut sending: Vec<&Stored> = list
            .iter()
            .filter(|s| (https || !s.secure) && path_matches(path, &s.path))
            .collect();
        if sending.is_empty() {
            return None;
        }
        sending.sort_by_key(|s| std::cmp::Reverse(s.path.len()));
        let mut text = String::new();
        for (i, s) in sending.iter().enumerate() {
            if i > 0 {
                text.push_str("; ");
            }
            text.push_str(&s.name);
            text.push('=');
            text.push_str(&s.value);
        }
        HeaderValue::from_str(&text).ok()
    }
}

/// RFC 6265 §5.1.3: the host is the domain, or ends with `.` + domain (not for addresses).
fn domain_matches(host: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    if host.eq_ignore_ascii_case(domain) {
        return true;
    }
    let is_address = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    !is_address
        && host.len() > domain.len()
        && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

/// RFC 6265 §5.1.4: the request path up to (not including) its last `/`, or `/`.
fn default_path(request_path: &str) -> String {
    let path = request_path.split('?').next().unwrap_or("");
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 §5.1.4: the cookie's path is the request path, or a prefix of it ending at a
/// `/` boundary.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let path = request_path.split('?').next().unwrap_or("");
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(now: Instant, wall: SystemTime) -> Origin<'static> {
        Origin {
            host: "nslb.example.com",
            path: "/agentgateway/resource/onlineagent/1001",
            https: true,
            now,
            wall,
        }
    }

    fn sent(jar: &mut Jar, path: &str, now: Instant) -> Option<String> {
        jar.header(path, true, now)
            .map(|v| v.to_str().expect("ascii").to_string())
    }

    const POLL: &str = "/agentgateway/resource/agentevent/1001";

    #[test]
    fn a_sticky_cookie_is_sent_back_on_every_later_call() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut jar = Jar::default();
        assert!(jar.is_empty());
        assert_eq!(sent(&mut jar, POLL, now), None);
        jar.store("AGWNODE=AgentGateway1; Path=/; HttpOnly", origin(now, wall));
        jar.store(
            "JSESSIONID=abc; Path=/agentgateway; Secure",
            origin(now, wall),
        );
        // Longest path first.
        assert_eq!(
            sent(&mut jar, POLL, now).as_deref(),
            Some("JSESSIONID=abc; AGWNODE=AgentGateway1")
        );
        // Not under /agentgateway: only the `/` cookie; a prefix must end at a `/`.
        assert_eq!(
            sent(&mut jar, "/agentgatewayx/y", now).as_deref(),
            Some("AGWNODE=AgentGateway1")
        );
        // Over plain HTTP the Secure one stays home.
        assert_eq!(
            jar.header(POLL, false, now)
                .map(|v| v.to_str().unwrap().to_string()),
            Some("AGWNODE=AgentGateway1".to_string())
        );
        // The same name and path replaces; the session's end forgets them all.
        jar.store("AGWNODE=AgentGateway2; Path=/", origin(now, wall));
        assert_eq!(
            sent(&mut jar, POLL, now).as_deref(),
            Some("JSESSIONID=abc; AGWNODE=AgentGateway2")
        );
        jar.clear();
        assert!(jar.is_empty());
        assert_eq!(sent(&mut jar, POLL, now), None);
    }

    #[test]
    fn max_age_and_expires_end_a_cookie() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut jar = Jar::default();
        jar.store("a=1; Max-Age=10; Path=/", origin(now, wall));
        // Max-Age wins over an Expires in the past.
        jar.store(
            "b=2; Max-Age=20; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/",
            origin(now, wall),
        );
        jar.store(
            "c=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/",
            origin(now, wall),
        );
        let later = |s| now + Duration::from_secs(s);
        assert_eq!(sent(&mut jar, POLL, later(5)).as_deref(), Some("a=1; b=2"));
        assert_eq!(sent(&mut jar, POLL, later(15)).as_deref(), Some("b=2"));
        assert_eq!(sent(&mut jar, POLL, later(25)), None);
        assert!(jar.is_empty());
        // An HTTP date in the future, from the wall clock.
        let expires = httpdate::fmt_http_date(wall + Duration::from_secs(60));
        jar.store(
            &format!("d=4; Expires={expires}; Path=/"),
            origin(now, wall),
        );
        assert_eq!(sent(&mut jar, POLL, later(30)).as_deref(), Some("d=4"));
        assert_eq!(sent(&mut jar, POLL, later(61)), None);
        // Max-Age=0 deletes the cookie of that name and path.
        jar.store("e=5; Path=/", origin(now, wall));
        jar.store("e=; Max-Age=0; Path=/", origin(now, wall));
        assert_eq!(sent(&mut jar, POLL, now), None);
    }

    #[test]
    fn domain_secure_and_path_defaults_as_rfc_6265_says() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut jar = Jar::default();
        jar.store("a=1; Domain=example.com; Path=/", origin(now, wall));
        jar.store("b=2; Domain=.EXAMPLE.com; Path=/", origin(now, wall));
        jar.store("c=3; Domain=other.com; Path=/", origin(now, wall));
        jar.store("d=4; Domain=ample.com; Path=/", origin(now, wall));
        assert_eq!(sent(&mut jar, POLL, now).as_deref(), Some("a=1; b=2"));
        // No Path: the directory of the request that set it.
        let mut jar = Jar::default();
        jar.store("p=1", origin(now, wall));
        assert_eq!(
            sent(
                &mut jar,
                "/agentgateway/resource/onlineagent/1001/logout",
                now
            )
            .as_deref(),
            Some("p=1")
        );
        assert_eq!(sent(&mut jar, POLL, now), None);
        // A Secure cookie set over plain HTTP is ignored; an address must match exactly.
        let mut jar = Jar::default();
        let plain = Origin {
            host: "127.0.0.1",
            https: false,
            ..origin(now, wall)
        };
        jar.store("s=1; Secure; Path=/", plain);
        jar.store("x=1; Domain=0.0.1; Path=/", plain);
        jar.store("y=1; Domain=127.0.0.1; Path=/", plain);
        assert_eq!(
            jar.header(POLL, false, now)
                .map(|v| v.to_str().unwrap().to_string()),
            Some("y=1".to_string())
        );
    }

    #[test]
    fn a_gateway_cannot_grow_the_jar_without_bound() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut jar = Jar::default();
        for i in 0..100 {
            jar.store(&format!("n{i}=v; Path=/"), origin(now, wall));
        }
        jar.store(
            &format!("big={}; Path=/", "x".repeat(2000)),
            origin(now, wall),
        );
        jar.store("not a cookie", origin(now, wall));
        let header = sent(&mut jar, POLL, now).expect("some");
        assert_eq!(header.split("; ").count(), MAX_COOKIES);
        assert!(!header.contains("big="));
    }
}
