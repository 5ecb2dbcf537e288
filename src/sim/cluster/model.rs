//! Cluster mode's configuration shapes (D19, D20): how the front keeps an agent on one
//! node (`stickiness`), node failures (`fail_node`), the node names, and the checks of
//! these keys and of the sign-in rate limit that serde cannot express.
//!
//! Serde shapes and pure rules only; the front and the failure clock that act on them are
//! `front` and `failure`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::sim::config::GatewayConfig;
use crate::util::duration::HumanDuration;

/// Most nodes a simulated cluster may have (each is a full session table and counters).
pub const MAX_NODES: u32 = 64;

/// How the front keeps an agent's requests on the node that signed it in (D19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stickiness {
    /// By the sticky cookie the front sets on the first reply it routed round robin.
    #[default]
    Cookie,
    /// By the `.AgentGatewayK` suffix of the request's `Guid` header.
    Guid,
    /// None: every request goes to the next node round robin.
    None,
}

impl Stickiness {
    /// The name as configured (`cookie`, `guid`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            Stickiness::Cookie => "cookie",
            Stickiness::Guid => "guid",
            Stickiness::None => "none",
        }
    }
}

impl std::str::FromStr for Stickiness {
    type Err = String;
    fn from_str(s: &str) -> Result<Stickiness, String> {
        match s {
            "cookie" => Ok(Stickiness::Cookie),
            "guid" => Ok(Stickiness::Guid),
            "none" => Ok(Stickiness::None),
            _ => Err(format!("{s:?} is not one of `cookie`, `guid`, `none`")),
        }
    }
}

/// What a failing node does (D19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Every session ends as D12's forced sign-out: a waiting poll gets
    /// `AgentOther_ShutdownService`.
    #[default]
    Shutdown,
    /// Its connections (waiting polls too) are closed without a reply; sessions vanish.
    Refuse,
}

/// One node failure: node `node` fails `at` after the gateway started, in `mode`, and is
/// back (empty) `for` later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNode {
    pub node: u32,
    pub at: HumanDuration,
    #[serde(rename = "for")]
    pub down_for: HumanDuration,
    #[serde(default)]
    pub mode: FailMode,
}

/// `fail_node = { … }` or a list of them (`fail_node = [{ … }]`, `[[fail_node]]`).
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FailNode>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<FailNode>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table { node, at, for, mode } or a list of them")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<FailNode>, A::Error> {
            FailNode::deserialize(de::value::MapAccessDeserializer::new(map)).map(|f| vec![f])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<FailNode>, A::Error> {
            let mut out = Vec::new();
            while let Some(f) = seq.next_element::<FailNode>()? {
                out.push(f);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Whether this configuration serves through a front (cluster mode): more than one node,
/// or a node failure to simulate.
pub fn is_cluster(config: &GatewayConfig) -> bool {
    config.nodes > 1 || !config.fail_node.is_empty()
}

/// The node names: `node_name` itself for one node; else `node_name` without its trailing
/// digits, then the node's number (`AgentGateway0` … `AgentGateway2`).
pub fn node_names(config: &GatewayConfig) -> Vec<String> {
    if config.nodes <= 1 {
        return vec![config.node_name.clone()];
    }
    let base = config
        .node_name
        .trim_end_matches(|c: char| c.is_ascii_digit());
    (0..config.nodes).map(|k| format!("{base}{k}")).collect()
}

/// A cookie name as RFC 6265 allows (a token), kept to letters, digits, `-` and `_`.
fn is_cookie_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The cluster and rate-limit keys' checks, each problem reported through `bad` with its
/// key, as `GatewayConfig::validate` reports the others.
pub fn check(c: &GatewayConfig, bad: &mut impl FnMut(&'static str, String)) {
    if !(1..=MAX_NODES).contains(&c.nodes) {
        bad(
            "nodes",
            format!("{} is not between 1 and {MAX_NODES}", c.nodes),
        );
    }
    if !is_cookie_name(&c.sticky_cookie) {
        bad(
            "sticky_cookie",
            format!(
                "{:?} must be 1-64 letters, digits, '-' or '_'",
                c.sticky_cookie
            ),
        );
    }
    for (i, f) in c.fail_node.iter().enumerate() {
        if f.node >= c.nodes {
            bad(
                "fail_node",
                format!(
                    "entry {}: node {} does not exist (nodes = {}: 0 to {})",
                    i + 1,
                    f.node,
                    c.nodes,
                    c.nodes.saturating_sub(1)
                ),
            );
        }
        if f.down_for.get().is_zero() {
            bad(
                "fail_node",
                format!("entry {}: for must be above zero", i + 1),
            );
        }
    }
    if let Some(rate) = c.signin_rate_limit {
        if !(rate.is_finite() && rate > 0.0) {
            bad(
                "signin_rate_limit",
                format!("{rate} must be a number above zero"),
            );
        }
    }
    match (c.signin_burst, c.signin_rate_limit) {
        (Some(0), _) => bad("signin_burst", "must be at least 1".to_string()),
        (Some(_), None) => bad(
            "signin_burst",
            "needs signin_rate_limit (the burst of a rate limit)".to_string(),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> GatewayConfig {
        toml::from_str(text).expect("parses")
    }

    fn problems(text: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        check(&parse(text), &mut |k, m| out.push((k, m)));
        out
    }

    #[test]
    fn fail_node_is_one_table_or_a_list() {
        let one = parse(r#"fail_node = { node = 1, at = "60s", for = "30s", mode = "refuse" }"#);
        assert_eq!(
            one.fail_node,
            vec![FailNode {
                node: 1,
                at: HumanDuration::from_secs(60),
                down_for: HumanDuration::from_secs(30),
                mode: FailMode::Refuse,
            }]
        );
        let list = parse(
            "[[fail_node]]\nnode = 0\nat = \"1s\"\nfor = \"1s\"\n[[fail_node]]\nnode = 2\nat = \"2s\"\nfor = \"1s\"\n",
        );
        assert_eq!(list.fail_node.len(), 2);
        assert_eq!(list.fail_node[0].mode, FailMode::Shutdown, "the default");
        let inline = parse(r#"fail_node = [{ node = 0, at = "1s", for = "1s" }]"#);
        assert_eq!(inline.fail_node.len(), 1);
        for bad in [
            r#"fail_node = { node = 0, at = "1s" }"#,
            r#"fail_node = { node = 0, at = "1s", for = "1s", mode = "crash" }"#,
            r#"fail_node = { node = 0, at = "1s", for = "1s", extra = 1 }"#,
            r#"fail_node = 3"#,
        ] {
            assert!(toml::from_str::<GatewayConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names_keep_the_name_and_number_the_nodes() {
        assert_eq!(node_names(&parse("")), ["AgentGateway0"]);
        assert_eq!(
            node_names(&parse("nodes = 3")),
            ["AgentGateway0", "AgentGateway1", "AgentGateway2"]
        );
        assert_eq!(
            node_names(&parse("nodes = 2\nnode_name = \"gw-east7\"")),
            ["gw-east0", "gw-east1"]
        );
        assert_eq!(node_names(&parse("node_name = \"Solo5\"")), ["Solo5"]);
        for s in [Stickiness::Cookie, Stickiness::Guid, Stickiness::None] {
            assert_eq!(s.name().parse::<Stickiness>(), Ok(s));
        }
        assert!(!is_cluster(&parse("")));
        assert!(is_cluster(&parse("nodes = 2")));
        assert!(is_cluster(&parse(
            r#"fail_node = { node = 0, at = "1s", for = "1s" }"#
        )));
    }

    #[test]
    fn checks_name_their_keys() {
        assert!(problems("nodes = 3\nsignin_rate_limit = 5.0\nsignin_burst = 2").is_empty());
        let keys = |text| {
            problems(text)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys("nodes = 0"), ["nodes"]);
        assert_eq!(keys("nodes = 65"), ["nodes"]);
        assert_eq!(keys("sticky_cookie = \"a b\""), ["sticky_cookie"]);
        assert_eq!(keys("signin_rate_limit = 0.0"), ["signin_rate_limit"]);
        assert_eq!(keys("signin_burst = 3"), ["signin_burst"]);
        assert_eq!(
            keys("signin_rate_limit = 1.0\nsignin_burst = 0"),
            ["signin_burst"]
        );
        let p = problems(
            "nodes = 2\nfail_node = [{ node = 2, at = \"1s\", for = \"1s\" }, { node = 1, at = \"1s\", for = \"0s\" }]",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, "fail_node");
        assert!(
            p[0].1.contains("entry 1") && p[0].1.contains("node 2"),
            "{}",
            p[0].1
        );
        assert!(
            p[1].1.contains("entry 2") && p[1].1.contains("for"),
            "{}",
            p[1].1
        );
    }
}
