//! `target.source_addresses`: the local addresses the harness opens its connections from,
//! in turn. Written as a list of IP addresses (v4 or v6) and inclusive IPv4 ranges:
//! `["127.0.0.2-127.0.0.17", "::1"]`.
//!
//! Why: one (source address, destination) pair gets at most the kernel's ephemeral port
//! range (~28,000 ports on Linux), and `connect()` slows sharply past ~14,000 connections
//! on one pair, so 19,000 agents against one gateway need at least two source addresses.
//!
//! This module owns the syntax and its limits; each entry parses itself while it is
//! deserialised, so a bad one is reported at its own position. Binding is the client's.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::util::limits::CONNECTIONS_PER_SOURCE;

/// Most source addresses a scenario may list (ranges expanded); far more than the load of
/// one machine needs, and keeps a typo like `127.0.0.2-127.9.0.0` from expanding to millions.
pub const MAX_SOURCE_ADDRESSES: usize = 1024;

const EXAMPLE: &str = "write an IP address like \"127.0.0.2\" or an IPv4 range like \
                       \"127.0.0.2-127.0.0.17\"";

/// One entry as written: an address, or an inclusive IPv4 range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    text: String,
    first: IpAddr,
    /// How many addresses from `first` (1 for a single address).
    count: u32,
}

impl SourceEntry {
    /// Parses `"127.0.0.2"`, `"::1"` or `"127.0.0.2-127.0.0.17"`.
    pub fn parse(text: &str) -> Result<SourceEntry, String> {
        let t = text.trim();
        let (first, count) = match t.split_once('-') {
            None => {
                let ip: IpAddr = t.parse().map_err(|_| {
                    format!("source address {text:?} is not an IP address; {EXAMPLE}")
                })?;
                (ip, 1)
            }
            Some((a, b)) => {
                let v4 = |s: &str| s.trim().parse::<Ipv4Addr>();
                let (Ok(a), Ok(b)) = (v4(a), v4(b)) else {
                    return Err(format!(
                        "source address range {text:?} is not two IPv4 addresses; {EXAMPLE} \
                         (list IPv6 addresses one by one)"
                    ));
                };
                let (lo, hi) = (u32::from(a), u32::from(b));
                if lo > hi {
                    return Err(format!(
                        "source address range {text:?} runs backwards; write the lower \
                         address first, e.g. \"{b}-{a}\""
                    ));
                }
                let count = u64::from(hi - lo) + 1;
                if count > MAX_SOURCE_ADDRESSES as u64 {
                    return Err(format!(
                        "source address range {text:?} holds {count} addresses; at most \
                         {MAX_SOURCE_ADDRESSES} in all"
                    ));
                }
                (IpAddr::V4(a), count as u32)
            }
        };
        let entry = SourceEntry {
            text: text.to_string(),
            first,
            count,
        };
        if let Some(bad) = entry.addrs().find(|ip| !usable(ip)) {
            return Err(format!(
                "source address {bad} (in {text:?}) cannot be a connection's source: it is \
                 unspecified, multicast or broadcast; {EXAMPLE}"
            ));
        }
        Ok(entry)
    }

    /// The addresses, in order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let count = self.count;
        let v4 = match self.first {
            IpAddr::V4(a) => Some(u32::from(a)),
            IpAddr::V6(_) => None,
        };
        (0..count).map(move |k| match v4 {
            Some(start) => IpAddr::V4(Ipv4Addr::from(start.saturating_add(k))),
            None => self.first,
        })
    }

    pub fn as_text(&self) -> &str {
        &self.text
    }
}

fn usable(ip: &IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && !matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}

/// The whole list; empty means the kernel picks each connection's source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAddresses {
    entries: Vec<SourceEntry>,
}

impl SourceAddresses {
    /// Builds the list from entries as written, checking the total and duplicates.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<SourceAddresses, String> {
        let entries = entries
            .iter()
            .map(|e| SourceEntry::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        SourceAddresses::from_entries(entries)
    }

    fn from_entries(entries: Vec<SourceEntry>) -> Result<SourceAddresses, String> {
        let total: u64 = entries.iter().map(|e| u64::from(e.count)).sum();
        if total > MAX_SOURCE_ADDRESSES as u64 {
            return Err(format!(
                "source_addresses lists {total} addresses; at most {MAX_SOURCE_ADDRESSES} \
                 (each carries ~{CONNECTIONS_PER_SOURCE} connections to one destination)"
            ));
        }
        let mut seen = HashSet::new();
        for e in &entries {
            if let Some(dup) = e.addrs().find(|ip| !seen.insert(*ip)) {
                return Err(format!(
                    "source address {dup} is listed twice (again in {:?}); list each once",
                    e.text
                ));
            }
        }
        Ok(SourceAddresses { entries })
    }

    /// Every address, ranges expanded, in the order written.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.entries.iter().flat_map(SourceEntry::addrs).collect()
    }

    /// How many addresses there are (ranges expanded).
    pub fn len(&self) -> usize {
        self.entries.iter().map(|e| e.count as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Serialize for SourceEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SourceEntry::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for SourceAddresses {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SourceAddresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SourceAddresses;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of IP addresses and IPv4 ranges, e.g. [\"127.0.0.2-127.0.0.17\"]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SourceAddresses, A::Error> {
                let mut entries = Vec::new();
                // Entries are kept unexpanded (each at most MAX_SOURCE_ADDRESSES), so a long
                // list costs no more than its text.
                while let Some(e) = seq.next_element::<SourceEntry>()? {
                    entries.push(e);
                }
                SourceAddresses::from_entries(entries).map_err(de::Error::custom)
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn addresses_and_ranges_expand_in_order() {
        let s = SourceAddresses::parse(&["127.0.0.2-127.0.0.4", "::1", " 10.0.0.255-10.0.1.0"])
            .expect("valid");
        assert_eq!(
            s.addrs(),
            ips(&[
                "127.0.0.2",
                "127.0.0.3",
                "127.0.0.4",
                "::1",
                "10.0.0.255",
                "10.0.1.0"
            ])
        );
        assert_eq!(s.len(), 6);
        let one = SourceAddresses::parse(&["127.0.0.9-127.0.0.9"]).expect("one-address range");
        assert_eq!(one.addrs(), ips(&["127.0.0.9"]));
        assert!(SourceAddresses::parse::<&str>(&[])
            .expect("empty")
            .is_empty());
    }

    #[test]
    fn bad_entries_name_the_value_and_what_is_valid() {
        let e = SourceEntry::parse("127.0.0.5-127.0.0.2").expect_err("reversed");
        assert!(
            e.contains("\"127.0.0.5-127.0.0.2\"") && e.contains("backwards"),
            "{e}"
        );
        assert!(
            e.contains("\"127.0.0.2-127.0.0.5\""),
            "suggests the fix: {e}"
        );
        let e = SourceEntry::parse("localhost").expect_err("junk");
        assert!(
            e.contains("\"localhost\"") && e.contains("127.0.0.2"),
            "{e}"
        );
        let e = SourceEntry::parse("127.0.0.2-::1").expect_err("mixed");
        assert!(e.contains("IPv4"), "{e}");
        let e = SourceEntry::parse("::1-::3").expect_err("v6 range");
        assert!(e.contains("IPv6 addresses one by one"), "{e}");
        let e = SourceEntry::parse("127.0.0.0-127.0.255.255").expect_err("too wide");
        assert!(e.contains("65536 addresses") && e.contains("1024"), "{e}");
        let e = SourceEntry::parse("0.0.0.0").expect_err("unspecified");
        assert!(e.contains("0.0.0.0"), "{e}");
        assert!(SourceEntry::parse("224.0.0.1").is_err());
        assert!(SourceEntry::parse("255.255.255.255").is_err());
    }

    #[test]
    fn the_total_and_duplicates_are_checked_across_entries() {
        let e = SourceAddresses::parse(&["10.0.0.0-10.0.3.255", "10.1.0.0-10.1.0.255"])
            .expect_err("1,024 + 256");
        assert!(e.contains("1280 addresses") && e.contains("1024"), "{e}");
        SourceAddresses::parse(&["10.0.0.0-10.0.3.255"]).expect("exactly 1,024");
        let e = SourceAddresses::parse(&["127.0.0.2-127.0.0.5", "127.0.0.3"]).expect_err("dup");
        assert!(e.contains("127.0.0.3 is listed twice"), "{e}");
    }

    #[test]
    fn round_trips_through_toml_as_written() {
        #[derive(Serialize, Deserialize)]
        struct T {
            s: SourceAddresses,
        }
        let t: T = toml::from_str("s = [\"127.0.0.2-127.0.0.3\", \"::1\"]").expect("valid");
        assert_eq!(t.s.len(), 3);
        let back = toml::to_string(&t).expect("serialise");
        assert!(back.contains("\"127.0.0.2-127.0.0.3\""), "{back}");
        assert!(toml::from_str::<T>("s = \"127.0.0.2\"").is_err(), "a list");
    }
}
