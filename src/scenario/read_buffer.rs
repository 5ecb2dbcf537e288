//! `target.read_buffer_bytes`: the read buffer each connection gets, a fixed size in bytes
//! (2048 unless the scenario says otherwise) or `"adaptive"` for hyper's own (8 KiB first,
//! growing with the replies). Owns the value type, its default and how it reads and writes
//! in TOML; the bounds are checked in `validate`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The default fixed size. With many connections per process the read buffer is the
/// largest share of memory the harness decides (19,000 long-polling agents took 19.8 KiB
/// each with 2048 against 22.3 KiB with hyper's adaptive buffer, BENCHMARKS.md); a reply
/// head (status line and headers) longer than the buffer cannot be read, and 2 KiB leaves
/// room for a gateway's and a load balancer's headers and cookies.
pub const DEFAULT_READ_BUFFER: u32 = 2048;

/// A connection's read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBuffer {
    /// This many bytes per read; a longer body takes more reads, a longer head fails.
    Fixed(u32),
    /// hyper's buffer: 8 KiB first, growing for long replies.
    Adaptive,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer::Fixed(DEFAULT_READ_BUFFER)
    }
}

impl ReadBuffer {
    /// The fixed size hyper is given, None for its adaptive buffer.
    pub fn exact_bytes(self) -> Option<usize> {
        match self {
            ReadBuffer::Fixed(n) => Some(n as usize),
            ReadBuffer::Adaptive => None,
        }
    }
}

impl Serialize for ReadBuffer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ReadBuffer::Fixed(n) => s.serialize_u32(*n),
            ReadBuffer::Adaptive => s.serialize_str("adaptive"),
        }
    }
}

const EXPECTED: &str = "a whole number of bytes (e.g. 2048) or \"adaptive\"";

impl<'de> Deserialize<'de> for ReadBuffer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ReadBuffer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ReadBuffer, E> {
                u32::try_from(n)
                    .map(ReadBuffer::Fixed)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &EXPECTED))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ReadBuffer, E> {
                u64::try_from(n)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &EXPECTED))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ReadBuffer, E> {
                if s.eq_ignore_ascii_case("adaptive") {
                    Ok(ReadBuffer::Adaptive)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(s), &EXPECTED))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct T {
        #[serde(default)]
        b: ReadBuffer,
    }

    fn read(text: &str) -> Result<ReadBuffer, String> {
        toml_edit::de::from_str::<T>(text)
            .map(|t| t.b)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_size_the_word_adaptive_or_nothing() {
        assert_eq!(read("b = 1024"), Ok(ReadBuffer::Fixed(1024)));
        assert_eq!(read("b = \"adaptive\""), Ok(ReadBuffer::Adaptive));
        assert_eq!(read(""), Ok(ReadBuffer::Fixed(DEFAULT_READ_BUFFER)));
        assert_eq!(ReadBuffer::Adaptive.exact_bytes(), None);
        assert_eq!(ReadBuffer::Fixed(4096).exact_bytes(), Some(4096));
    }

    #[test]
    fn refuses_other_words_and_negative_sizes_saying_what_is_valid() {
        for bad in ["b = \"big\"", "b = -5", "b = 1.5"] {
            let e = read(bad).expect_err(bad);
            assert!(e.contains("\"adaptive\""), "{bad}: {e}");
        }
    }

    #[test]
    fn writes_back_as_it_reads() {
        for b in [ReadBuffer::Fixed(1536), ReadBuffer::Adaptive] {
            let text = toml_edit::ser::to_string(&T { b }).unwrap();
            assert_eq!(read(&text), Ok(b), "{text}");
        }
    }
}
