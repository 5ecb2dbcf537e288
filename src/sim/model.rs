//! The behaviour model's sub-tables as configuration types: service-time distributions,
//! accounts (D7), faults and forced sign-outs. Serde shapes and per-entry checks only;
//! sampling and runtime state live in `behaviour` and `faults`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::protocol::{retcode, Endpoint};
use crate::util::duration::HumanDuration;

/// A service-time distribution: `{ fixed = "20ms" }`, `{ min = "10ms", max = "50ms" }`
/// (uniform) or `{ p50 = "40ms", p99 = "300ms" }` (lognormal with that median and 99th
/// percentile).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDist", into = "RawDist")]
pub enum Dist {
    Fixed(Duration),
    Uniform { min: Duration, max: Duration },
    LogNormal { p50: Duration, p99: Duration },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDist {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p50: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p99: Option<HumanDuration>,
}

impl TryFrom<RawDist> for Dist {
    type Error = String;
    fn try_from(r: RawDist) -> Result<Dist, String> {
        let g = |d: Option<HumanDuration>| d.map(HumanDuration::get);
        match (g(r.fixed), g(r.min), g(r.max), g(r.p50), g(r.p99)) {
            (Some(f), None, None, None, None) => Ok(Dist::Fixed(f)),
            (None, Some(min), Some(max), None, None) if min <= max => {
                Ok(Dist::Uniform { min, max })
            }
            (None, Some(_), Some(_), None, None) => Err("min is above max".to_string()),
            (None, None, None, Some(p50), Some(p99)) if !p50.is_zero() && p50 <= p99 => {
                Ok(Dist::LogNormal { p50, p99 })
            }
            (None, None, None, Some(_), Some(_)) => {
                Err("p50 must be above zero and not above p99".to_string())
            }
            _ => Err(
                "give `fixed`, or `min` and `max` (uniform), or `p50` and `p99` (lognormal)"
                    .to_string(),
            ),
        }
    }
}

impl From<Dist> for RawDist {
    fn from(d: Dist) -> RawDist {
        let h = |d: Duration| Some(HumanDuration(d));
        match d {
            Dist::Fixed(f) => RawDist {
                fixed: h(f),
                ..RawDist::default()
            },
            Dist::Uniform { min, max } => RawDist {
                min: h(min),
                max: h(max),
                ..RawDist::default()
            },
            Dist::LogNormal { p50, p99 } => RawDist {
                p50: h(p50),
                p99: h(p99),
                ..RawDist::default()
            },
        }
    }
}

/// Service time per operation (endpoint log names), with a `default` for the others.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTimes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Dist>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Dist>,
    #[serde(
        default,
        rename = "forceLogin",
        skip_serializing_if = "Option::is_none"
    )]
    pub force_login: Option<Dist>,
    #[serde(default, rename = "loginEx", skip_serializing_if = "Option::is_none")]
    pub login_ex: Option<Dist>,
    #[serde(
        default,
        rename = "getAgentEvent",
        skip_serializing_if = "Option::is_none"
    )]
    pub get_agent_event: Option<Dist>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout: Option<Dist>,
    #[serde(
        default,
        rename = "forceLogout",
        skip_serializing_if = "Option::is_none"
    )]
    pub force_logout: Option<Dist>,
    #[serde(
        default,
        rename = "forceLogoutWithReason",
        skip_serializing_if = "Option::is_none"
    )]
    pub force_logout_with_reason: Option<Dist>,
    #[serde(default, rename = "handShake", skip_serializing_if = "Option::is_none")]
    pub hand_shake: Option<Dist>,
    #[serde(
        default,
        rename = "updateGuid",
        skip_serializing_if = "Option::is_none"
    )]
    pub update_guid: Option<Dist>,
    #[serde(
        default,
        rename = "resetSkill",
        skip_serializing_if = "Option::is_none"
    )]
    pub reset_skill: Option<Dist>,
}

impl ServiceTimes {
    /// The distribution for `endpoint` (its own, else `default`, else none).
    pub fn for_endpoint(&self, endpoint: Endpoint) -> Option<Dist> {
        let own = match endpoint {
            Endpoint::Login => self.login,
            Endpoint::ForceLogin => self.force_login,
            Endpoint::LoginEx => self.login_ex,
            Endpoint::GetAgentEvent => self.get_agent_event,
            Endpoint::Logout => self.logout,
            Endpoint::ForceLogout => self.force_logout,
            Endpoint::ForceLogoutWithReason => self.force_logout_with_reason,
            Endpoint::HandShake => self.hand_shake,
            Endpoint::UpdateGuid => self.update_guid,
            Endpoint::ResetSkill => self.reset_skill,
        };
        own.or(self.default)
    }
}

/// A set of agent ids: `"1001-2000"`, `"1001"`, or a list `[1001, 1005]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSet {
    Range(u32, u32),
    List(Vec<u32>),
}

impl IdSet {
    pub fn contains(&self, id: u32) -> bool {
        match self {
            IdSet::Range(a, b) => (*a..=*b).contains(&id),
            IdSet::List(l) => l.contains(&id),
        }
    }

    fn parse(text: &str) -> Result<IdSet, String> {
        let bad = || format!("invalid id range {text:?}; write \"1001-2000\" or \"1001\"");
        let (a, b) = match text.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (text.trim(), text.trim()),
        };
        let a: u32 = a.parse().map_err(|_| bad())?;
        let b: u32 = b.parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        Ok(IdSet::Range(a, b))
    }
}

impl Serialize for IdSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdSet::Range(a, b) => s.collect_str(&format_args!("{a}-{b}")),
            IdSet::List(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for IdSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id range such as \"1001-2000\" or a list of ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdSet, E> {
                IdSet::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdSet, E> {
                u32::try_from(v)
                    .map(|id| IdSet::Range(id, id))
                    .map_err(|_| E::custom(format!("agent id {v} out of range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdSet, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IdSet, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<u32>()? {
                    ids.push(id);
                }
                Ok(IdSet::List(ids))
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret read from configuration: never shown by `Debug` and never serialised.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Agents with a password (D7): `ids` and either `password` or `password_env` (the name
/// of an environment variable holding it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub ids: IdSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

impl Account {
    pub fn check(&self) -> Result<(), String> {
        match (&self.password, &self.password_env) {
            (Some(_), None) => Ok(()),
            (None, Some(var)) => std::env::var(var)
                .map(|_| ())
                .map_err(|_| format!("environment variable {var} is not set")),
            _ => Err("give exactly one of `password` and `password_env`".to_string()),
        }
    }

    /// The password (from the environment for `password_env`; empty if unset).
    pub fn resolve(&self) -> String {
        match (&self.password, &self.password_env) {
            (Some(p), _) => p.0.clone(),
            (None, Some(var)) => std::env::var(var).unwrap_or_default(),
            (None, None) => String::new(),
        }
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Answer `retcode` instead of doing the operation.
    Retcode,
    /// Answer HTTP `status` (500 or 503) instead of doing the operation.
    Http,
    /// Do the operation, then cut the connection halfway through the reply.
    Reset,
    /// Hold the request for `stall`, then answer normally.
    Stall,
}

/// One injected fault: on `operation` (an endpoint log name or `any`), for a fraction
/// `rate` of requests, between `from` and `until` after the gateway started.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default = "any")]
    pub operation: String,
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<HumanDuration>,
    #[serde(default = "one")]
    pub rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<HumanDuration>,
}

fn any() -> String {
    "any".to_string()
}
fn one() -> f64 {
    1.0
}

/// Whether `elapsed` is within `[from, until)`.
pub fn in_window(
    from: Option<HumanDuration>,
    until: Option<HumanDuration>,
    elapsed: Duration,
) -> bool {
    from.is_none_or(|f| elapsed >= f.get()) && until.is_none_or(|u| elapsed < u.get())
}

fn check_window(from: Option<HumanDuration>, until: Option<HumanDuration>) -> Result<(), String> {
    match (from, until) {
        (Some(f), Some(u)) if f >= u => Err(format!("from ({f}) is not before until ({u})")),
        _ => Ok(()),
    }
}

impl Fault {
    /// The endpoint it applies to: None for `any`.
    pub fn endpoint(&self) -> Option<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(&self.operation))
    }

    pub fn check(&self) -> Result<(), String> {
        if self.operation != "any" && self.endpoint().is_none() {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            return Err(format!(
                "operation {:?} is not `any` or one of {}",
                self.operation,
                names.join(", ")
            ));
        }
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(format!("rate {} is not between 0 and 1", self.rate));
        }
        check_window(self.from, self.until)?;
        match self.kind {
            FaultKind::Retcode => match self.retcode.as_deref() {
                Some(code) if code != retcode::SUCCESS && retcode::KNOWN.contains(&code) => Ok(()),
                Some(code) => Err(format!("retcode {code:?} is not a known failure code")),
                None => Err("kind = \"retcode\" needs `retcode`".to_string()),
            },
            FaultKind::Http => match self.status {
                Some(500 | 503) => Ok(()),
                _ => Err("kind = \"http\" needs `status` = 500 or 503".to_string()),
            },
            FaultKind::Stall => match self.stall {
                Some(_) => Ok(()),
                None => Err("kind = \"stall\" needs `stall` (a duration)".to_string()),
            },
            FaultKind::Reset => Ok(()),
        }
    }
}

/// Random signed-in agents forced out (D12) at `per_s`, between `from` and `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForcedSignouts {
    pub per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<HumanDuration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        d: Dist,
    }

    #[test]
    fn distributions_parse_in_three_shapes() {
        let p = |s: &str| toml::from_str::<T>(s).map(|t| t.d);
        let ms = Duration::from_millis;
        assert_eq!(
            p(r#"d = { fixed = "20ms" }"#).expect("fixed"),
            Dist::Fixed(ms(20))
        );
        assert_eq!(
            p(r#"d = { min = "1ms", max = "5ms" }"#).expect("uniform"),
            Dist::Uniform {
                min: ms(1),
                max: ms(5)
            }
        );
        assert_eq!(
            p(r#"d = { p50 = "40ms", p99 = "300ms" }"#).expect("lognormal"),
            Dist::LogNormal {
                p50: ms(40),
                p99: ms(300)
            }
        );
        for bad in [
            r#"d = { fixed = "1ms", min = "1ms" }"#,
            r#"d = { min = "5ms", max = "1ms" }"#,
            r#"d = { p50 = "400ms", p99 = "300ms" }"#,
            r#"d = { p50 = "40ms" }"#,
            r#"d = { mean = "40ms" }"#,
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_sets_and_secrets() {
        #[derive(Debug, Deserialize)]
        struct A {
            a: Vec<Account>,
        }
        let a: A = toml::from_str(
            r#"a = [{ ids = "1001-1003", password = "pw" }, { ids = [7, 9], password = "x" }, { ids = 5, password = "y" }]"#,
        )
        .expect("parses");
        assert!(a.a[0].ids.contains(1002) && !a.a[0].ids.contains(1004));
        assert!(a.a[1].ids.contains(9) && !a.a[1].ids.contains(8));
        assert!(a.a[2].ids.contains(5));
        assert!(!format!("{a:?}").contains("pw"));
        assert!(!serde_json::to_string(&a.a[0])
            .expect("json")
            .contains("\"pw\""));
        assert!(toml::from_str::<A>(r#"a = [{ ids = "9-1", password = "p" }]"#).is_err());
        let both = Account {
            ids: IdSet::Range(1, 2),
            password: Some(Secret("p".into())),
            password_env: Some("X".into()),
        };
        assert!(both.check().is_err());
    }

    #[test]
    fn fault_checks_and_windows() {
        let f: Fault =
            toml::from_str("kind = \"retcode\"\nretcode = \"100-007\"\noperation = \"login\"")
                .expect("parses");
        assert!(f.check().is_ok());
        assert_eq!(f.endpoint(), Some(Endpoint::Login));
        let f: Fault = toml::from_str("kind = \"retcode\"\nretcode = \"0\"").expect("parses");
        assert!(f.check().is_err());
        let f: Fault = toml::from_str("kind = \"http\"\nstatus = 404").expect("parses");
        assert!(f.check().is_err());
        let f: Fault = toml::from_str("kind = \"reset\"\noperation = \"nope\"").expect("parses");
        assert!(f.check().is_err());
        let f: Fault =
            toml::from_str("kind = \"reset\"\nfrom = \"2s\"\nuntil = \"1s\"").expect("parses");
        assert!(f.check().is_err());
        let s = |x| Some(HumanDuration::from_secs(x));
        assert!(in_window(s(1), s(2), Duration::from_millis(1500)));
        assert!(!in_window(s(1), s(2), Duration::from_secs(2)));
        assert!(in_window(None, None, Duration::ZERO));
    }
}
