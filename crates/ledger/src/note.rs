//! Ed25519 keys and signed notes, byte for byte as C2SP `signed-note` and
//! golang.org/x/mod/sumdb/note define them.
//!
//! ```text
//! <text, ending in a newline>
//!
//! — <key name> <base64(key hash (4 bytes, big-endian) ‖ Ed25519 signature of the text)>
//! ```
//!
//! - key hash: the first 4 bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`;
//! - verifier key: `<name>+<hex key hash>+<base64(0x01 ‖ public key)>`;
//! - signer key: `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>`.
//!
//! Opening a note with a [`Verifier`] ignores signatures by other keys (the
//! spec requires it: witnesses' cosignatures, key rotation), refuses the whole
//! note if a signature claiming to be ours does not verify, and refuses it if
//! none is ours.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::Error;

/// Signature type byte of Ed25519 in the signed-note registry.
const ALG_ED25519: u8 = 0x01;
/// Most signature lines we read (sumdb/note's limit; the spec asks for at
/// least 16) so a hostile note cannot make us decode without bound.
const MAX_SIGNATURES: usize = 100;
const SIGNER_PREFIX: &str = "PRIVATE+KEY+";
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A signing key with its name: the log operator's secret.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_hash: u32,
    key: SigningKey,
}

/// A public key with its name: what clients are configured with to check the
/// log's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_hash: u32,
    key: VerifyingKey,
}

impl Signer {
    /// A new key named `name`, its seed drawn from `rng` (pass
    /// `rand::rngs::OsRng` outside tests).
    pub fn generate<R: CryptoRngCore + ?Sized>(name: &str, rng: &mut R) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(name, &seed)
    }

    /// The key whose RFC 8032 seed (private key) is `seed`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_hash: key_hash(name, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex hash>+<base64(0x01 ‖ seed)>`, checking
    /// the hash against the key it derives.
    pub fn parse(skey: &str) -> Result<Self, Error> {
        const KIND: &str = "signer";
        let rest = skey
            .strip_prefix(SIGNER_PREFIX)
            .ok_or(Error::MalformedKey {
                kind: KIND,
                reason: "does not start with PRIVATE+KEY+",
            })?;
        let (name, stated, seed) = split_key(KIND, rest)?;
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| Error::MalformedKey {
                kind: KIND,
                reason: "Ed25519 seed is not 32 bytes",
            })?;
        let signer = Self::from_seed(name, seed)?;
        check_key_hash(stated, signer.key_hash)?;
        Ok(signer)
    }

    /// The signer key string (secret!), as [`Signer::parse`] reads it.
    pub fn to_key_string(&self) -> String {
        format!(
            "{SIGNER_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_hash,
            encode_key(self.key.as_bytes())
        )
    }

    /// The matching public key.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    /// Signs `text`, which must end in a newline and contain no control
    /// characters other than newlines (else no verifier could open the note),
    /// and returns the whole signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, Error> {
        if !text.ends_with('\n') {
            return Err(Error::MalformedNote("text does not end with a newline"));
        }
        check_no_control_chars(text)?;
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_hash.to_be_bytes());
        blob.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// Never prints the private key.
impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_hash", &format_args!("{:08x}", self.key_hash))
            .finish_non_exhaustive()
    }
}

impl FromStr for Signer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Verifier {
    /// The verifier for the Ed25519 public key `public_key` named `name`.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, Error> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| Error::MalformedKey {
            kind: "verifier",
            reason: "not a valid Ed25519 public key",
        })?;
        Ok(Self {
            name: name.to_owned(),
            key_hash: key_hash(name, public_key),
            key,
        })
    }

    /// Parses `<name>+<hex hash>+<base64(0x01 ‖ public key)>`, checking the
    /// hash against the key.
    pub fn parse(vkey: &str) -> Result<Self, Error> {
        const KIND: &str = "verifier";
        let (name, stated, key) = split_key(KIND, vkey)?;
        let key: &[u8; 32] = key.as_slice().try_into().map_err(|_| Error::MalformedKey {
            kind: KIND,
            reason: "Ed25519 public key is not 32 bytes",
        })?;
        let verifier = Self::from_public_key(name, key)?;
        check_key_hash(stated, verifier.key_hash)?;
        Ok(verifier)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks a signed note and returns its text (everything before the
    /// blank line, final newline included).
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, Error> {
        check_no_control_chars(note)?;
        // The text may itself contain blank lines: the signatures start after
        // the last one.
        let split = note
            .rfind("\n\n")
            .ok_or(Error::MalformedNote("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(Error::MalformedNote(
                "signature lines missing or not ended by a newline",
            ));
        }
        let mut verified = false;
        for (i, line) in sigs.split_terminator('\n').enumerate() {
            if i == MAX_SIGNATURES {
                return Err(Error::MalformedNote("more than 100 signatures"));
            }
            let (name, blob) = line
                .strip_prefix(SIGNATURE_PREFIX)
                .and_then(|l| l.split_once(' '))
                .ok_or(Error::MalformedNote(
                    "signature line is not \"— <name> <signature>\"",
                ))?;
            if !is_valid_name(name) {
                return Err(Error::MalformedNote("invalid key name in a signature line"));
            }
            let blob = crate::b64::decode_bytes(blob)
                .filter(|b| b.len() >= 5)
                .ok_or(Error::MalformedNote(
                    "signature is not base64 of a key hash and a signature",
                ))?;
            let key_hash = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
            // Other keys' signatures are none of our business; a repeat of
            // ours has already been checked.
            if name != self.name || key_hash != self.key_hash || verified {
                continue;
            }
            let bad = || Error::BadSignature {
                name: self.name.clone(),
                key_hash,
            };
            let sig: [u8; 64] = blob[4..].try_into().map_err(|_| bad())?;
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| bad())?;
            verified = true;
        }
        if !verified {
            return Err(Error::NoSignature {
                name: self.name.clone(),
                key_hash: self.key_hash,
            });
        }
        Ok(text)
    }
}

/// The verifier key string, as [`Verifier::parse`] reads it.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_hash,
            encode_key(self.key.as_bytes())
        )
    }
}

impl FromStr for Verifier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4]`, big-endian.
fn key_hash(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name);
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Key names: non-empty, no Unicode white space, no '+' (the key strings'
/// separator).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), Error> {
    if !is_valid_name(name) {
        return Err(Error::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

fn check_key_hash(stated: u32, actual: u32) -> Result<(), Error> {
    if stated != actual {
        return Err(Error::KeyHashMismatch { stated, actual });
    }
    Ok(())
}

fn check_no_control_chars(text: &str) -> Result<(), Error> {
    if text.contains(|c: char| c < ' ' && c != '\n') {
        return Err(Error::MalformedNote("control character other than newline"));
    }
    Ok(())
}

fn encode_key(key: &[u8; 32]) -> String {
    let mut bytes = [0u8; 33];
    bytes[0] = ALG_ED25519;
    bytes[1..].copy_from_slice(key);
    STANDARD.encode(bytes)
}

/// Splits `<name>+<hex hash>+<base64(alg ‖ key)>` into the name, the stated
/// hash and the key bytes after an Ed25519 algorithm byte. The base64 part
/// may itself contain '+', hence `splitn`.
fn split_key<'a>(kind: &'static str, s: &'a str) -> Result<(&'a str, u32, Vec<u8>), Error> {
    let malformed = |reason| Error::MalformedKey { kind, reason };
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected <name>+<hash>+<key>"));
    };
    check_name(name)?;
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("key hash is not 8 hex digits"));
    }
    let hash = u32::from_str_radix(hash, 16).expect("8 hex digits");
    let mut key = crate::b64::decode_bytes(key).ok_or(malformed("key is not standard base64"))?;
    match key.first() {
        None => Err(malformed("key is empty")),
        Some(&ALG_ED25519) => {
            key.remove(0);
            Ok((name, hash, key))
        }
        Some(&alg) => Err(Error::UnsupportedAlgorithm(alg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "example.com/log", "PeterNeumann", "ünï"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "a b", "a+b", "a\tb", "a\u{a0}b", "a\u{2003}b"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = Signer::from_seed("k", &[7; 32]).unwrap();
        let seed_b64 = &s.to_key_string()[SIGNER_PREFIX.len() + 11..];
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(seed_b64), "{dbg}");
        assert!(dbg.contains("\"k\""));
    }
}
