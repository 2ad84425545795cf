//! Hashes as standard base64 (RFC 4648 §4, padded), the encoding of
//! checkpoints and of transparency-log APIs.
//!
//! Serde helpers: `#[serde(with = "ledger::b64::hash")]` on a [`Hash`](type@crate::Hash) field,
//! `#[serde(with = "ledger::b64::hashes")]` on a `Vec<Hash>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::{Error, Hash};

/// Standard padded base64 of a hash (44 characters).
pub fn encode(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// Decodes standard padded base64 of exactly 32 bytes. Only the canonical
/// spelling is accepted, so a hash has one text form: a signed checkpoint
/// cannot be re-spelled into different bytes with the same meaning.
pub fn decode(text: &str) -> Result<Hash, Error> {
    decode_bytes(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::InvalidHash(text.to_owned()))
}

/// Canonical standard base64 only: re-encoding must give `text` back.
pub(crate) fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .ok()
        .filter(|bytes| STANDARD.encode(bytes) == text)
}

/// Serde `with` module for one [`Hash`](type@crate::Hash) as a base64 string.
pub mod hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Hash;

    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde `with` module for a `Vec<Hash>` as an array of base64 strings.
pub mod hashes {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hashes.len()))?;
        for h in hashes {
            seq.serialize_element(&super::encode(h))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?
            .iter()
            .map(|t| super::decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMPTY_ROOT;

    #[test]
    fn round_trip_and_canonical_only() {
        let text = encode(&EMPTY_ROOT);
        assert_eq!(text, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(decode(&text), Ok(EMPTY_ROOT));
        // Same bytes with non-zero padding bits, missing padding, URL alphabet,
        // wrong length: all refused.
        for bad in [
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS",
            "",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
