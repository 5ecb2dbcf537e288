//! Value types with their own small syntax inside scenario files: agent id ranges
//! (`"1001-2000,3001-3100"`), phone number templates (`"7{agentid}"`), duration ranges
//! (`"3s"` or `{ min = "2s", max = "5s" }`) and secrets (`{ env = "VAR" }` /
//! `{ file = "path" }`).
//!
//! Each parses itself during deserialisation, so a bad value is reported by serde with the
//! position of the value in the file. A secret's value never reaches `Debug`, `Display` or
//! serialisation: only where it comes from does.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::{AGENT_ID_MAX, AGENT_ID_MIN};
use crate::util::duration::HumanDuration;

/// A set of agent ids written as comma-separated ids and inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRanges {
    ranges: Vec<(u32, u32)>,
    text: String,
}

/// `1001-1250,2001` from inclusive ranges.
pub fn ranges_text(parts: &[(u32, u32)]) -> String {
    parts
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl IdRanges {
    /// Parses `"1001-2000"`, `"1001"`, `"1001-1500, 2001-2500"`. Every id must be within
    /// 101–999999 (the documents' range) and no id may appear twice.
    pub fn parse(text: &str) -> Result<IdRanges, String> {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "agent ids {text:?}: empty item; write ids and ranges like \"1001-2000,3001\""
                ));
            }
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (parse_id(a, text)?, parse_id(b, text)?),
                None => {
                    let id = parse_id(part, text)?;
                    (id, id)
                }
            };
            if lo > hi {
                return Err(format!(
                    "agent ids {text:?}: range {part:?} runs backwards; write the low id first"
                ));
            }
            for (a, b) in &ranges {
                if lo <= *b && *a <= hi {
                    return Err(format!(
                        "agent ids {text:?}: {part:?} overlaps {a}-{b}; each id may appear once"
                    ));
                }
            }
            ranges.push((lo, hi));
        }
        Ok(IdRanges {
            ranges,
            text: text.to_string(),
        })
    }

    /// The inclusive ranges, in the order written.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// How many ids there are.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The `n`th id (0-based) in the order written, or None past the end.
    pub fn get(&self, mut n: u64) -> Option<u32> {
        for (a, b) in &self.ranges {
            let size = u64::from(b - a) + 1;
            if n < size {
                return u32::try_from(u64::from(*a) + n).ok();
            }
            n -= size;
        }
        None
    }

    /// Every id, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|(a, b)| *a..=*b)
    }

    pub fn as_text(&self) -> &str {
        &self.text
    }
}

fn parse_id(s: &str, whole: &str) -> Result<u32, String> {
    let s = s.trim();
    let id: u64 = s.parse().map_err(|_| {
        format!(
            "agent ids {whole:?}: {s:?} is not a number; write ids and ranges like \"1001-2000\""
        )
    })?;
    if !(u64::from(AGENT_ID_MIN)..=u64::from(AGENT_ID_MAX)).contains(&id) {
        return Err(format!(
            "agent id {id} is outside {AGENT_ID_MIN}-{AGENT_ID_MAX}, the range the gateway accepts"
        ));
    }
    Ok(id as u32)
}

impl Serialize for IdRanges {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for IdRanges {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IdRanges::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A softphone number template; `{agentid}` is replaced by the agent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneTemplate {
    prefix: String,
    suffix: Option<String>,
}

impl Default for PhoneTemplate {
    fn default() -> Self {
        PhoneTemplate {
            prefix: String::new(),
            suffix: Some(String::new()),
        }
    }
}

impl PhoneTemplate {
    pub const PLACEHOLDER: &'static str = "{agentid}";

    /// Parses a template: text with at most one `{agentid}`; the result for the longest
    /// agent id must fit the protocol's 24 characters.
    pub fn parse(text: &str) -> Result<PhoneTemplate, String> {
        let t = match text.split_once(Self::PLACEHOLDER) {
            Some((pre, post)) => {
                if post.contains(Self::PLACEHOLDER) {
                    return Err(format!(
                        "phonenum {text:?}: {{agentid}} may appear only once"
                    ));
                }
                PhoneTemplate {
                    prefix: pre.to_string(),
                    suffix: Some(post.to_string()),
                }
            }
            None => PhoneTemplate {
                prefix: text.to_string(),
                suffix: None,
            },
        };
        if t.render(AGENT_ID_MAX).chars().count() > 24 {
            return Err(format!(
                "phonenum {text:?} gives numbers longer than the gateway's 24 characters"
            ));
        }
        if text.trim().is_empty() {
            return Err("phonenum is empty; write e.g. \"7{agentid}\"".into());
        }
        Ok(t)
    }

    pub fn render(&self, agent_id: u32) -> String {
        match &self.suffix {
            Some(suffix) => format!("{}{agent_id}{suffix}", self.prefix),
            None => self.prefix.clone(),
        }
    }
}

impl Serialize for PhoneTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.suffix {
            Some(suffix) => s.collect_str(&format_args!(
                "{}{}{suffix}",
                self.prefix,
                Self::PLACEHOLDER
            )),
            None => s.serialize_str(&self.prefix),
        }
    }
}

impl<'de> Deserialize<'de> for PhoneTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneTemplate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A duration drawn uniformly between `min` and `max` (equal for a fixed duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: HumanDuration,
    pub max: HumanDuration,
}

impl DurationRange {
    pub fn fixed(d: HumanDuration) -> DurationRange {
        DurationRange { min: d, max: d }
    }

    pub fn between(min: HumanDuration, max: HumanDuration) -> DurationRange {
        DurationRange { min, max }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let (lo, hi) = (self.min.get(), self.max.get());
        if hi <= lo {
            return lo;
        }
        rng.random_range(lo..=hi)
    }
}

impl Serialize for DurationRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.min == self.max {
            self.min.serialize(s)
        } else {
            #[derive(Serialize)]
            struct MinMax {
                min: HumanDuration,
                max: HumanDuration,
            }
            MinMax {
                min: self.min,
                max: self.max,
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = DurationRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"3s\" or a range like { min = \"2s\", max = \"5s\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationRange, E> {
                crate::util::duration::parse(v)
                    .map(|d| DurationRange::fixed(HumanDuration(d)))
                    .map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DurationRange, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "min" => min = Some(map.next_value::<HumanDuration>()?),
                        "max" => max = Some(map.next_value::<HumanDuration>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(other, &["min", "max"]))
                        }
                    }
                }
                let min = min.ok_or_else(|| serde::de::Error::missing_field("min"))?;
                let max = max.ok_or_else(|| serde::de::Error::missing_field("max"))?;
                if max < min {
                    return Err(serde::de::Error::custom(format!(
                        "max {max} is below min {min}; write the smaller duration as min"
                    )));
                }
                Ok(DurationRange { min, max })
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a secret (an agent password) comes from. The scenario names a source, never the
/// value; the value is read at run time and kept out of every output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file holding the secret (one line; the trailing newline is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the source is shown, never a value.
        f.debug_struct("Secret")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

impl Secret {
    /// Reads the secret's value. Errors name the source, never a value.
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                format!("password: environment variable {var} is not set (the scenario names it in agents.password)")
            }),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("password: cannot read file {}: {e}", path.display())),
            _ => Err("password: write exactly one of { env = \"VAR\" } or { file = \"path\" }".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_parse_count_and_index() {
        let r = IdRanges::parse("1001-1003, 2001").expect("valid");
        assert_eq!(r.len(), 4);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![1001, 1002, 1003, 2001]);
        assert_eq!(r.get(3), Some(2001));
        assert_eq!(r.get(4), None);
        assert!(IdRanges::parse("100-200")
            .expect_err("low")
            .contains("outside 101-999999"));
        assert!(IdRanges::parse("1000000").is_err());
        assert!(IdRanges::parse("2000-1000")
            .expect_err("backwards")
            .contains("backwards"));
        assert!(IdRanges::parse("1001-2000,1500")
            .expect_err("overlap")
            .contains("overlaps"));
        assert!(IdRanges::parse("abc").is_err());
        assert!(IdRanges::parse("1001,").is_err());
    }

    #[test]
    fn phone_template_renders_and_checks_length() {
        let t = PhoneTemplate::parse("7{agentid}").expect("valid");
        assert_eq!(t.render(1001), "71001");
        assert_eq!(PhoneTemplate::default().render(42), "42");
        assert_eq!(
            PhoneTemplate::parse("40038").expect("fixed").render(1),
            "40038"
        );
        assert!(PhoneTemplate::parse("{agentid}{agentid}").is_err());
        assert!(PhoneTemplate::parse("12345678901234567890{agentid}").is_err());
    }

    #[test]
    fn duration_range_forms() {
        #[derive(Deserialize)]
        struct T {
            d: DurationRange,
        }
        let fixed: T = toml::from_str("d = \"3s\"").expect("fixed");
        assert_eq!(fixed.d.min, fixed.d.max);
        let r: T = toml::from_str("d = { min = \"1s\", max = \"2s\" }").expect("range");
        let mut rng = rand::rng();
        for _ in 0..100 {
            let v = r.d.sample(&mut rng);
            assert!((Duration::from_secs(1)..=Duration::from_secs(2)).contains(&v));
        }
        assert!(toml::from_str::<T>("d = { min = \"2s\", max = \"1s\" }").is_err());
        assert!(toml::from_str::<T>("d = { min = \"2s\", mx = \"1s\" }").is_err());
    }

    #[test]
    fn secret_resolves_and_never_shows_its_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pw");
        std::fs::write(&p, "hunter2\n").expect("write");
        let s = Secret {
            env: None,
            file: Some(p),
        };
        assert_eq!(s.resolve().as_deref(), Ok("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let missing = Secret {
            env: Some("AGENTSTORM_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        assert!(missing
            .resolve()
            .expect_err("unset")
            .contains("AGENTSTORM_TEST_SURELY_UNSET_VAR"));
    }
}
