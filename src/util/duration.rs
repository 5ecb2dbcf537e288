//! Human-written durations (`"250ms"`, `"10s"`, `"2m"`, `"1h 30m"`) as a serde value type,
//! shared by scenario files and the simulated gateway's behaviour model.
//!
//! Parsing is humantime's; this type only adds serde and a message that says what a valid
//! value looks like. It owns no policy about which durations make sense where.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as text in TOML and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_millis(ms: u64) -> Self {
        HumanDuration(Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

/// Parses a duration such as `250ms`, `10s`, `2m`, `1h 30m`. A bare number is refused: the
/// unit is what makes a scenario readable.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write a number with a unit, e.g. \"250ms\", \"10s\", \"2m\", \"1h\"")
    })
}

impl std::str::FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string with a unit, e.g. \"250ms\", \"10s\", \"2m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse(v).map(HumanDuration).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_bare_numbers() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        let err = parse("10").expect_err("bare number refused");
        assert!(err.contains("\"10\"") && err.contains("250ms"), "{err}");
        assert!(parse("ten seconds").is_err());
    }

    #[test]
    fn round_trips_through_toml() {
        #[derive(Deserialize, Serialize)]
        struct T {
            d: HumanDuration,
        }
        let t: T = toml::from_str("d = \"1500ms\"").expect("parses");
        assert_eq!(t.d.get(), Duration::from_millis(1500));
        let back = toml::to_string(&t).expect("serialises");
        let again: T = toml::from_str(&back).expect("parses again");
        assert_eq!(again.d, t.d);
        assert!(toml::from_str::<T>("d = 5").is_err());
    }
}
