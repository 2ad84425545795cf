//! Public verification keys: parsing from PEM (SPKI, PKCS#1, X.509) and from
//! JWK, and signature verification.
//!
//! Keys are parsed once, at load time, into ready-to-use RustCrypto verifying
//! keys, so verifying a token costs one signature check and no parsing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use spki::der::{Decode as _, Encode as _};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

/// Shortest RSA modulus accepted. 2048 bits is the NIST / RFC 7518 floor and
/// what the InterUSS test key uses.
pub(crate) const MIN_RSA_BITS: usize = 2048;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The only two JWS algorithms this service accepts. Keeping this a closed
/// enum (rather than a string compared at use sites) is what rules out
/// `none`, HMAC and algorithm-confusion attacks: a token's `alg` selects one
/// of these or is refused, and each variant is tied to one key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    /// Parses a JWS `alg` header value; case-sensitive, as RFC 7515 requires.
    pub(crate) fn from_header(alg: &str) -> Option<Alg> {
        match alg {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

/// A parsed public key.
#[derive(Clone)]
pub(crate) enum KeyMaterial {
    Rsa(rsa::pkcs1v15::VerifyingKey<Sha256>),
    P256(p256::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({:?})", self.alg())
    }
}

impl KeyMaterial {
    pub(crate) fn alg(&self) -> Alg {
        match self {
            KeyMaterial::Rsa(_) => Alg::Rs256,
            KeyMaterial::P256(_) => Alg::Es256,
        }
    }

    /// Verifies a JWS signature over `message`. `signature` is the decoded
    /// third part of the token: PKCS#1 v1.5 for RS256, the 64-byte `r || s`
    /// concatenation for ES256 (RFC 7518 §3.4; DER is not accepted).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            KeyMaterial::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            KeyMaterial::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        }
    }
}

/// A key tokens can be verified with, plus how tokens can address it.
#[derive(Clone)]
pub(crate) struct VerificationKey {
    /// The id a token's `kid` header must equal to select this key directly.
    pub(crate) kid: Option<String>,
    /// Whether this key is also tried for tokens whose `kid` matches no key.
    /// True for keys whose issuer does not know our id for them (PEM keys,
    /// JWKs without a `kid`); false for JWKs with a `kid`, which the issuer
    /// will always name.
    pub(crate) fallback: bool,
    pub(crate) material: KeyMaterial,
    /// Where the key came from, for logs.
    pub(crate) origin: String,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("material", &self.material)
            .field("fallback", &self.fallback)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The key id this service derives for a public key: the first 16 hex digits
/// of the SHA-256 of its DER SubjectPublicKeyInfo. Stable across restarts
/// and identical for the same key however it was encoded (PKCS#1, SPKI or
/// certificate), so a dev token's `kid` selects the dev key directly.
pub fn key_id_for_spki_der(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses every key in a PEM document (one or more blocks). `origin` names
/// the source in errors. Private keys are refused rather than silently
/// reduced to their public half: a private key in a verifier's config is an
/// operational mistake worth stopping for.
pub(crate) fn parse_pem_keys(pem_text: &[u8]) -> Result<Vec<(String, KeyMaterial)>, String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("not valid PEM: {e}"))?;
    if blocks.is_empty() {
        return Err(
            "no PEM block found (expected BEGIN PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)".into(),
        );
    }
    let mut keys = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let parsed = parse_pem_block(block).map_err(|reason| {
            if blocks.len() == 1 {
                reason
            } else {
                format!("PEM block #{} ({}): {reason}", i + 1, block.tag())
            }
        })?;
        keys.push(parsed);
    }
    Ok(keys)
}

/// Parses one PEM block into (derived key id, key).
fn parse_pem_block(block: &pem::Pem) -> Result<(String, KeyMaterial), String> {
    let der = block.contents();
    match block.tag() {
        "PUBLIC KEY" => parse_spki_der(der),
        "RSA PUBLIC KEY" => {
            let key = rsa::RsaPublicKey::from_pkcs1_der(der)
                .map_err(|e| format!("invalid PKCS#1 RSA public key: {e}"))?;
            // Re-encode as SPKI so the derived key id does not depend on the
            // container format.
            let spki = key
                .to_public_key_der()
                .map_err(|e| format!("cannot re-encode RSA key: {e}"))?;
            let material = rsa_material(key)?;
            Ok((key_id_for_spki_der(spki.as_bytes()), material))
        }
        "CERTIFICATE" => {
            // The certificate is only a container for the key: the reference
            // DSS does not check its validity period or chain either, since
            // trust comes from the operator configuring the file.
            let cert = x509_cert::Certificate::from_der(der)
                .map_err(|e| format!("invalid X.509 certificate: {e}"))?;
            let spki = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| format!("cannot re-encode certificate key: {e}"))?;
            parse_spki_der(&spki)
        }
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            Err("this is a private key; configure the corresponding public key instead".into())
        }
        other => Err(format!(
            "unsupported PEM block {other:?} (expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)"
        )),
    }
}

/// Parses a DER SubjectPublicKeyInfo holding an RSA or P-256 key.
pub(crate) fn parse_spki_der(der: &[u8]) -> Result<(String, KeyMaterial), String> {
    let spki = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| format!("invalid SubjectPublicKeyInfo: {e}"))?;
    let material = match spki.algorithm.oid {
        OID_RSA_ENCRYPTION => {
            let key = rsa::RsaPublicKey::from_public_key_der(der)
                .map_err(|e| format!("invalid RSA public key: {e}"))?;
            rsa_material(key)?
        }
        OID_EC_PUBLIC_KEY => {
            let curve = spki.algorithm.parameters_oid().ok();
            if curve != Some(OID_SECP256R1) {
                return Err(match curve {
                    Some(oid) => format!("unsupported elliptic curve {oid} (only P-256 / ES256)"),
                    None => "EC key without a named curve (only P-256 / ES256)".into(),
                });
            }
            let key = p256::PublicKey::from_public_key_der(der)
                .map_err(|e| format!("invalid P-256 public key: {e}"))?;
            KeyMaterial::P256(key.into())
        }
        oid => {
            return Err(format!(
                "unsupported key algorithm {oid} (only RSA and EC P-256)"
            ))
        }
    };
    Ok((key_id_for_spki_der(der), material))
}

fn rsa_material(key: rsa::RsaPublicKey) -> Result<KeyMaterial, String> {
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA key is {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    Ok(KeyMaterial::Rsa(rsa::pkcs1v15::VerifyingKey::new(key)))
}

/// The members of a JWK this service reads (RFC 7517 / 7518). Unknown members
/// are ignored, as RFC 7517 §4 requires.
#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// What became of one JWK of a set.
pub(crate) enum JwkOutcome {
    Usable(VerificationKey),
    /// Well-formed but not for us (encryption key, other algorithm, ...).
    Skipped(String),
    /// Claims to be a usable key but is broken.
    Invalid(String),
}

/// Parses a JWKS document. Each key is judged on its own, so one exotic or
/// broken entry (an Ed25519 key, an encryption key) does not take the whole
/// set down. Errors only if the document is not a JWKS at all.
pub(crate) fn parse_jwks(body: &[u8], origin: &str) -> Result<Vec<JwkOutcome>, String> {
    #[derive(Deserialize)]
    struct JwkSet {
        keys: Vec<serde_json::Value>,
    }
    let set: JwkSet = serde_json::from_slice(body)
        .map_err(|e| format!("not a JWK Set (JSON object with a \"keys\" array): {e}"))?;
    Ok(set
        .keys
        .into_iter()
        .map(|value| match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => jwk_to_key(jwk, origin),
            Err(e) => JwkOutcome::Invalid(format!("not a JWK: {e}")),
        })
        .collect())
}

fn jwk_to_key(jwk: Jwk, origin: &str) -> JwkOutcome {
    if let Some(u) = jwk.use_.as_deref() {
        if u != "sig" {
            return JwkOutcome::Skipped(format!("use is {u:?}, not \"sig\""));
        }
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|op| op == "verify") {
            return JwkOutcome::Skipped("key_ops does not include \"verify\"".into());
        }
    }
    let material = match jwk.kty.as_str() {
        "RSA" => {
            if let Some(alg) = jwk.alg.as_deref().filter(|a| *a != "RS256") {
                return JwkOutcome::Skipped(format!("RSA key for alg {alg:?}, not RS256"));
            }
            let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
                return JwkOutcome::Invalid("RSA key without n or e".into());
            };
            let (Some(n), Some(e)) = (b64url_lenient(n), b64url_lenient(e)) else {
                return JwkOutcome::Invalid("RSA n or e is not base64url".into());
            };
            let key = match rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            ) {
                Ok(key) => key,
                Err(err) => return JwkOutcome::Invalid(format!("invalid RSA key: {err}")),
            };
            match rsa_material(key) {
                Ok(m) => m,
                Err(reason) => return JwkOutcome::Invalid(reason),
            }
        }
        "EC" => {
            if jwk.crv.as_deref() != Some("P-256") {
                return JwkOutcome::Skipped(format!(
                    "EC key on curve {:?}, not P-256",
                    jwk.crv.as_deref().unwrap_or("(none)")
                ));
            }
            if let Some(alg) = jwk.alg.as_deref().filter(|a| *a != "ES256") {
                return JwkOutcome::Skipped(format!("P-256 key for alg {alg:?}, not ES256"));
            }
            let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else {
                return JwkOutcome::Invalid("EC key without x or y".into());
            };
            let (Some(x), Some(y)) = (b64url_lenient(x), b64url_lenient(y)) else {
                return JwkOutcome::Invalid("EC x or y is not base64url".into());
            };
            if x.len() != 32 || y.len() != 32 {
                return JwkOutcome::Invalid("P-256 x and y must be 32 bytes each".into());
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            match p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) {
                Ok(key) => KeyMaterial::P256(key),
                Err(_) => return JwkOutcome::Invalid("P-256 point is not on the curve".into()),
            }
        }
        other => return JwkOutcome::Skipped(format!("key type {other:?} is not used")),
    };
    let kid = jwk.kid.filter(|k| !k.is_empty());
    JwkOutcome::Usable(VerificationKey {
        fallback: kid.is_none(),
        origin: match &kid {
            Some(k) => format!("{origin} (kid {k:?})"),
            None => format!("{origin} (no kid)"),
        },
        kid,
        material,
    })
}

/// Decodes base64url, tolerating the `=` padding some JWKS servers emit even
/// though RFC 7518 says not to. Key parameters are public data, so leniency
/// here has no security cost (unlike for token segments, which are strict).
fn b64url_lenient(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_is_case_sensitive_and_closed() {
        assert_eq!(Alg::from_header("RS256"), Some(Alg::Rs256));
        assert_eq!(Alg::from_header("ES256"), Some(Alg::Es256));
        for bad in [
            "rs256", "none", "None", "HS256", "PS256", "ES384", "RS512", "",
        ] {
            assert_eq!(Alg::from_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_id_is_16_hex_digits() {
        let kid = key_id_for_spki_der(b"anything");
        assert_eq!(kid.len(), 16);
        assert!(kid.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn jwks_entries_are_judged_individually() {
        let body = br#"{"keys":[
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"},
            {"kty":"EC","crv":"P-384","x":"AA","y":"AA"},
            {"kty":"EC","crv":"P-256","x":"AA","y":"AA"},
            42
        ]}"#;
        let outcomes = parse_jwks(body, "test").unwrap();
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|o| match o {
                JwkOutcome::Usable(_) => "usable",
                JwkOutcome::Skipped(_) => "skipped",
                JwkOutcome::Invalid(_) => "invalid",
            })
            .collect();
        assert_eq!(
            kinds,
            ["skipped", "skipped", "skipped", "invalid", "skipped", "invalid", "invalid"]
        );
        assert!(parse_jwks(b"[]", "test").is_err());
        assert!(parse_jwks(b"{\"keys\":[]}", "test").unwrap().is_empty());
    }

    #[test]
    fn private_key_pem_is_refused() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err = parse_pem_keys(pem.as_bytes()).unwrap_err();
        assert!(err.contains("private key"), "{err}");
    }

    #[test]
    fn empty_pem_is_refused() {
        let err = parse_pem_keys(b"hello").unwrap_err();
        assert!(err.contains("no PEM block"), "{err}");
    }
}
