//! Request routing: method and path to an endpoint, an agent id and the path argument,
//! with the HTTP-level answers of D2 (404, 405 with `Allow`) and D6 (agent id range).
//!
//! Pure and allocation-free (it borrows from the path); it does not look at headers,
//! bodies or sessions.

use http::Method;

use crate::protocol::{retcode, Endpoint, BASE_PATH, STATS_PATH};

/// Path of the failover cue: every session is forced out (D12), as a gateway failover does.
pub const FAILOVER_PATH: &str = "/agentstorm/v1/failover";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// An agent-interface call. `arg` is the segment after the action for
    /// `forcelogoutwithreason/{reason}` and `resetskill/{autoflag}` (else empty).
    Agent {
        endpoint: Endpoint,
        id: u32,
        arg: &'a str,
    },
    /// `GET /agentstorm/v1/stats` (D17).
    Stats,
    /// `POST /agentstorm/v1/failover`.
    Failover,
    /// Unknown path: 404 with `000-002` (D2).
    NotFound,
    /// Known path, wrong method: 405 with `Allow` (D2).
    WrongMethod {
        endpoint: Option<Endpoint>,
        code: &'static str,
        allow: &'static str,
    },
    /// Agent id not an integer in the configured range: `000-002` (D6).
    BadAgentId { endpoint: Endpoint },
}

impl Route<'_> {
    /// The endpoint a reply to this route is counted under (None: outside the interface).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match *self {
            Route::Agent { endpoint, .. } | Route::BadAgentId { endpoint } => Some(endpoint),
            Route::WrongMethod { endpoint, .. } => endpoint,
            _ => None,
        }
    }
}

/// The method each endpoint answers.
pub fn method_of(endpoint: Endpoint) -> Method {
    match endpoint {
        Endpoint::Login | Endpoint::ForceLogin | Endpoint::LoginEx | Endpoint::UpdateGuid => {
            Method::PUT
        }
        Endpoint::GetAgentEvent => Method::GET,
        Endpoint::Logout | Endpoint::ForceLogout | Endpoint::ForceLogoutWithReason => {
            Method::DELETE
        }
        Endpoint::HandShake | Endpoint::ResetSkill => Method::POST,
    }
}

fn allow_of(method: &Method) -> &'static str {
    match *method {
        Method::PUT => "PUT",
        Method::GET => "GET",
        Method::DELETE => "DELETE",
        _ => "POST",
    }
}

/// Parses an agent id segment: ASCII digits only, within `min..=max`.
pub fn parse_agent_id(segment: &str, min: u32, max: u32) -> Option<u32> {
    if segment.is_empty() || segment.len() > 9 || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment
        .parse::<u32>()
        .ok()
        .filter(|id| (min..=max).contains(id))
}

/// Routes one request. `min`/`max` are the configured agent id range.
pub fn route<'a>(method: &Method, path: &'a str, min: u32, max: u32) -> Route<'a> {
    if path == STATS_PATH {
        return if method == Method::GET {
            Route::Stats
        } else {
            Route::WrongMethod {
                endpoint: None,
                code: retcode::BAD_URL,
                allow: "GET",
            }
        };
    }
    if path == FAILOVER_PATH {
        return if method == Method::POST {
            Route::Failover
        } else {
            Route::WrongMethod {
                endpoint: None,
                code: retcode::BAD_URL,
                allow: "POST",
            }
        };
    }
    let Some(rest) = path
        .strip_prefix(BASE_PATH)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Route::NotFound;
    };
    let mut parts = rest.split('/');
    let kind = parts.next().unwrap_or("");
    let id_seg = parts.next();
    let action = parts.next();
    let arg = parts.next();
    let extra = parts.next();
    let Some(id_seg) = id_seg else {
        return Route::NotFound;
    };
    if extra.is_some() {
        return Route::NotFound;
    }
    let (endpoint, arg) = match (kind, action, arg) {
        ("agentevent", None, None) => (Endpoint::GetAgentEvent, ""),
        ("onlineagent", None, None) => (Endpoint::Login, ""),
        ("onlineagent", Some(action), None) => {
            let e = if action.eq_ignore_ascii_case("forcelogin") {
                Endpoint::ForceLogin
            } else if action.eq_ignore_ascii_case("loginex") {
                Endpoint::LoginEx
            } else if action.eq_ignore_ascii_case("logout") {
                Endpoint::Logout
            } else if action.eq_ignore_ascii_case("forcelogout") {
                Endpoint::ForceLogout
            } else if action.eq_ignore_ascii_case("handshake") {
                Endpoint::HandShake
            } else if action.eq_ignore_ascii_case("updateguid") {
                Endpoint::UpdateGuid
            } else if action.eq_ignore_ascii_case("forcelogoutwithreason") {
                Endpoint::ForceLogoutWithReason
            } else if action.eq_ignore_ascii_case("resetskill") {
                Endpoint::ResetSkill
            } else {
                return Route::NotFound;
            };
            (e, "")
        }
        ("onlineagent", Some(action), Some(arg)) => {
            if action.eq_ignore_ascii_case("forcelogoutwithreason") {
                (Endpoint::ForceLogoutWithReason, arg)
            } else if action.eq_ignore_ascii_case("resetskill") {
                (Endpoint::ResetSkill, arg)
            } else {
                return Route::NotFound;
            }
        }
        _ => return Route::NotFound,
    };
    let expected = method_of(endpoint);
    if *method != expected {
        return Route::WrongMethod {
            endpoint: Some(endpoint),
            code: if endpoint == Endpoint::GetAgentEvent {
                retcode::WRONG_METHOD
            } else {
                retcode::BAD_URL
            },
            allow: allow_of(&expected),
        };
    }
    match parse_agent_id(id_seg, min, max) {
        Some(id) => Route::Agent { endpoint, id, arg },
        None => Route::BadAgentId { endpoint },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r<'a>(m: Method, p: &'a str) -> Route<'a> {
        route(&m, p, 101, 999_999)
    }

    #[test]
    fn routes_every_endpoint() {
        let b = BASE_PATH;
        let cases = [
            (Method::PUT, format!("{b}/onlineagent/101"), Endpoint::Login),
            (
                Method::PUT,
                format!("{b}/onlineagent/101/forcelogin"),
                Endpoint::ForceLogin,
            ),
            (
                Method::PUT,
                format!("{b}/onlineagent/101/loginex"),
                Endpoint::LoginEx,
            ),
            (
                Method::GET,
                format!("{b}/agentevent/101"),
                Endpoint::GetAgentEvent,
            ),
            (
                Method::DELETE,
                format!("{b}/onlineagent/101/logout"),
                Endpoint::Logout,
            ),
            (
                Method::DELETE,
                format!("{b}/onlineagent/101/forcelogout"),
                Endpoint::ForceLogout,
            ),
            (
                Method::POST,
                format!("{b}/onlineagent/101/handshake"),
                Endpoint::HandShake,
            ),
            (
                Method::PUT,
                format!("{b}/onlineagent/101/updateGuid"),
                Endpoint::UpdateGuid,
            ),
        ];
        for (m, p, e) in cases {
            assert_eq!(
                r(m, &p),
                Route::Agent {
                    endpoint: e,
                    id: 101,
                    arg: ""
                },
                "{p}"
            );
        }
        let p = format!("{b}/onlineagent/7001/forcelogoutwithreason/12");
        assert_eq!(
            r(Method::DELETE, &p),
            Route::Agent {
                endpoint: Endpoint::ForceLogoutWithReason,
                id: 7001,
                arg: "12"
            }
        );
        let p = format!("{b}/onlineagent/7001/resetskill/true");
        assert_eq!(
            r(Method::POST, &p),
            Route::Agent {
                endpoint: Endpoint::ResetSkill,
                id: 7001,
                arg: "true"
            }
        );
        assert_eq!(r(Method::GET, STATS_PATH), Route::Stats);
        assert_eq!(r(Method::POST, FAILOVER_PATH), Route::Failover);
    }

    #[test]
    fn d2_not_found_and_wrong_method() {
        let b = BASE_PATH;
        assert_eq!(r(Method::GET, "/"), Route::NotFound);
        assert_eq!(r(Method::GET, &format!("{b}/agentevent")), Route::NotFound);
        assert_eq!(
            r(Method::PUT, &format!("{b}/onlineagent/101/nope")),
            Route::NotFound
        );
        assert_eq!(
            r(Method::GET, &format!("{b}/agentevent/101/x")),
            Route::NotFound
        );
        assert_eq!(
            r(Method::POST, &format!("{b}/agentevent/101")),
            Route::WrongMethod {
                endpoint: Some(Endpoint::GetAgentEvent),
                code: retcode::WRONG_METHOD,
                allow: "GET"
            }
        );
        assert_eq!(
            r(Method::GET, &format!("{b}/onlineagent/101/logout")),
            Route::WrongMethod {
                endpoint: Some(Endpoint::Logout),
                code: retcode::BAD_URL,
                allow: "DELETE"
            }
        );
    }

    #[test]
    fn d6_agent_id_range() {
        let b = BASE_PATH;
        for bad in ["100", "1000000", "abc", "", "-5", "1e3", "99999999999"] {
            assert_eq!(
                r(Method::GET, &format!("{b}/agentevent/{bad}")),
                Route::BadAgentId {
                    endpoint: Endpoint::GetAgentEvent
                },
                "{bad}"
            );
        }
        assert_eq!(parse_agent_id("999999", 101, 999_999), Some(999_999));
        assert_eq!(parse_agent_id("60000", 101, 59_999), None);
    }
}
