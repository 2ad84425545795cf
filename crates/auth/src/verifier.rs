//! The bearer token verifier.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::claims::{check_times, numeric_date, validate, Claims, TimePolicy};
use crate::error::{echo, AuthError, AuthSetupError};
use crate::jwks::JwksSource;
use crate::keys::{parse_pem_keys, Alg, VerificationKey};

/// Longest token accepted. Real access tokens are well under 4 KiB; the cap
/// bounds the base64 and JSON work an unauthenticated caller can cause.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How a [`Verifier`] is set up.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// PEM files, each holding a public key (`PUBLIC KEY` with RSA or EC
    /// P-256, `RSA PUBLIC KEY`) or an X.509 `CERTIFICATE`.
    pub public_key_files: Vec<PathBuf>,
    /// Further PEM public keys given as text, e.g. the development key from
    /// [`crate::dev::DevKey::public_key_pem`].
    pub extra_public_keys_pem: Vec<String>,
    /// A JWKS endpoint (https, or http on loopback for tests).
    pub jwks_url: Option<String>,
    /// Accepted `aud` values; a token must name at least one. The InterUSS
    /// tooling uses the host name of the URL it calls (e.g. `localhost`).
    pub audiences: Vec<String>,
    /// Clock-skew allowance applied to `exp`, `nbf` and the lifetime cap.
    pub leeway: Duration,
    /// Refuse tokens whose `exp` is further than this (plus leeway) in the
    /// future; `None` disables the cap. Default 1 h, as the reference DSS.
    pub max_lifetime: Option<Duration>,
    /// Period of the background JWKS refresh.
    pub jwks_refresh: Duration,
    /// Minimum interval between two refreshes triggered by tokens with an
    /// unknown `kid`, so forged `kid`s cannot hammer the JWKS endpoint.
    pub jwks_min_on_demand_interval: Duration,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            public_key_files: Vec::new(),
            extra_public_keys_pem: Vec::new(),
            jwks_url: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(10),
            max_lifetime: Some(Duration::from_secs(3600)),
            jwks_refresh: Duration::from_secs(5 * 60),
            jwks_min_on_demand_interval: Duration::from_secs(30),
        }
    }
}

/// Verifies bearer JWTs. Cheap to clone and share: all state is behind one
/// `Arc`. When a JWKS URL is configured, a background task (stopped when the
/// last clone is dropped) keeps the keys fresh.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    audiences: Vec<String>,
    policy: TimePolicy,
    static_keys: Vec<Arc<VerificationKey>>,
    jwks: Option<Arc<JwksSource>>,
    /// Tokens already verified, by SHA-256 of the token, with the key that
    /// verified them and their claims. A client sends the same token for up
    /// to an hour; an ES256 or RS256 verification costs far more than the
    /// request it guards, and decoding the claims again is a good part of
    /// the cost of a query. Only the validity window (exp, nbf) can change
    /// its answer over time, and it is checked on every use; a hit counts
    /// only while its key is still configured, so a key rotated out of the
    /// JWKS stops its tokens at once.
    verified: Mutex<HashMap<[u8; 32], Arc<Verified>>>,
}

struct Verified {
    key: Arc<VerificationKey>,
    claims: Claims,
    nbf: Option<i64>,
}

/// Bound of the verified-signature cache; it is emptied when full (cheap, and
/// every live client re-enters it with one verification).
const VERIFIED_CACHE_MAX: usize = 16_384;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("audiences", &self.inner.audiences)
            .field("static_keys", &self.inner.static_keys)
            .field(
                "jwks_keys",
                &self.inner.jwks.as_ref().map(|j| j.keys().len()),
            )
            .finish()
    }
}

/// The parts of a compact JWS, split and decoded but not yet verified.
struct Parsed<'a> {
    alg: Alg,
    kid: Option<String>,
    signing_input: &'a [u8],
    signature: Vec<u8>,
    payload_b64: &'a str,
}

impl Verifier {
    /// Loads the configured keys and, if a JWKS URL is set, fetches it and
    /// starts the refresh task (only then is a Tokio runtime required). An unreachable
    /// JWKS endpoint is not fatal: it is logged and retried, and tokens that
    /// need its keys are refused until it answers.
    pub async fn new(cfg: VerifierConfig) -> Result<Verifier, AuthSetupError> {
        let audiences: Vec<String> = cfg
            .audiences
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(AuthSetupError::NoAudiences);
        }
        if cfg.public_key_files.is_empty()
            && cfg.extra_public_keys_pem.is_empty()
            && cfg.jwks_url.is_none()
        {
            return Err(AuthSetupError::NoKeySources);
        }
        if cfg.jwks_url.is_some() && cfg.jwks_refresh.is_zero() {
            return Err(AuthSetupError::InvalidConfig(
                "jwks_refresh must be greater than zero".into(),
            ));
        }
        if cfg.max_lifetime.is_some_and(|d| d.is_zero()) {
            return Err(AuthSetupError::InvalidConfig(
                "max_lifetime must be greater than zero (use None to disable the cap)".into(),
            ));
        }

        let mut static_keys = Vec::new();
        for path in &cfg.public_key_files {
            // A blocking read of a small file, once at start-up; std::fs keeps
            // `new` usable without a runtime when no JWKS URL is configured.
            let text = std::fs::read(path).map_err(|source| AuthSetupError::ReadKeyFile {
                path: path.clone(),
                source,
            })?;
            let origin = path.display().to_string();
            add_pem_keys(&mut static_keys, &text, origin)?;
        }
        for (i, pem) in cfg.extra_public_keys_pem.iter().enumerate() {
            add_pem_keys(
                &mut static_keys,
                pem.as_bytes(),
                format!("extra_public_keys_pem[{i}]"),
            )?;
        }
        for key in &static_keys {
            tracing::info!(
                origin = %key.origin,
                kid = key.kid.as_deref().unwrap_or_default(),
                alg = ?key.material.alg(),
                "token verification key loaded"
            );
        }

        let jwks = match &cfg.jwks_url {
            Some(url) => Some(
                JwksSource::start(url, cfg.jwks_refresh, cfg.jwks_min_on_demand_interval).await?,
            ),
            None => None,
        };

        Ok(Verifier {
            inner: Arc::new(Inner {
                audiences,
                policy: TimePolicy {
                    leeway: secs(cfg.leeway),
                    max_lifetime: cfg.max_lifetime.map(secs),
                },
                static_keys,
                jwks,
                verified: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Verifies a token (without the `Bearer ` prefix; see
    /// [`crate::bearer_token`]) against the current time. Synchronous and
    /// network-free. A token naming an unknown `kid` is refused, and also
    /// triggers a rate-limited background JWKS refresh so that a rotated-in
    /// key is known for the client's retry; use [`Verifier::verify_async`] to
    /// wait for that refresh instead.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// [`Verifier::verify`] at a given time (seconds since the Unix epoch).
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let result = self.check(token, now);
        if let (Err(AuthError::UnknownKeyId(_) | AuthError::KeysUnavailable), Some(jwks)) =
            (&result, &self.inner.jwks)
        {
            jwks.request_refresh();
        }
        result
    }

    /// Like [`Verifier::verify`], but when the token's key is unknown and a
    /// JWKS URL is configured, refreshes the JWKS (subject to the on-demand
    /// rate limit, and sharing any fetch already in flight) and retries once.
    /// This is what the request path should use: the first request after an
    /// issuer's key rotation then succeeds instead of failing.
    pub async fn verify_async(&self, token: &str) -> Result<Claims, AuthError> {
        let result = self.check(token, unix_now());
        match (&result, &self.inner.jwks) {
            (Err(AuthError::UnknownKeyId(_) | AuthError::KeysUnavailable), Some(jwks)) => {
                if jwks.refresh_and_wait().await {
                    self.check(token, unix_now())
                } else {
                    result
                }
            }
            _ => result,
        }
    }

    /// Whether any verification key is loaded (static keys, or a JWKS that
    /// has been fetched at least once). Useful for a readiness probe.
    pub fn has_keys(&self) -> bool {
        !self.inner.static_keys.is_empty()
            || self
                .inner
                .jwks
                .as_ref()
                .is_some_and(|j| !j.keys().is_empty())
    }

    /// The accepted audiences, as configured (trimmed, empties removed).
    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    fn check(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        if let Some(hit) = cached {
            if self.key_is_current(&hit.key) {
                check_times(hit.claims.expires_at, hit.nbf, &self.inner.policy, now)?;
                return Ok(hit.claims.clone());
            }
        }
        let parsed = parse_compact(token)?;
        let key = self.verify_signature(&parsed)?;
        // Claims are only looked at once the signature holds: an attacker
        // learns nothing about claim checks from unsigned tokens.
        let payload = URL_SAFE_NO_PAD
            .decode(parsed.payload_b64)
            .map_err(|_| AuthError::Malformed("payload is not base64url"))?;
        let map: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| AuthError::Malformed("payload is not a JSON object"))?;
        let claims = validate(&map, &self.inner.audiences, &self.inner.policy, now)?;
        // `validate` has checked that nbf, if present, is a number.
        let nbf = map.get("nbf").and_then(numeric_date);
        let mut cache = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() >= VERIFIED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            digest,
            Arc::new(Verified {
                key,
                claims: claims.clone(),
                nbf,
            }),
        );
        Ok(claims)
    }

    /// Picks candidate keys and checks the signature.
    ///
    /// With a `kid`: the keys carrying that id; if none does, the keys the
    /// issuer cannot address by id (PEM keys, JWKs without `kid`) — an issuer
    /// configured by PEM file may well put its own `kid` in tokens. Without a
    /// `kid` (the InterUSS tooling sends none): every key. Only keys of the
    /// algorithm's type are ever tried, so an RSA key can never be misused
    /// for another algorithm.
    fn key_is_current(&self, key: &Arc<VerificationKey>) -> bool {
        self.inner.static_keys.iter().any(|k| Arc::ptr_eq(k, key))
            || self
                .inner
                .jwks
                .as_ref()
                .is_some_and(|j| j.keys().iter().any(|k| Arc::ptr_eq(k, key)))
    }

    /// Returns the key that verified the signature.
    fn verify_signature(&self, parsed: &Parsed<'_>) -> Result<Arc<VerificationKey>, AuthError> {
        let jwks_keys = self.inner.jwks.as_ref().map(|j| j.keys());
        let all = || {
            self.inner
                .static_keys
                .iter()
                .chain(jwks_keys.iter().flat_map(|k| k.iter()))
        };
        if all().next().is_none() {
            return Err(AuthError::KeysUnavailable);
        }
        let of_alg = |k: &&Arc<VerificationKey>| k.material.alg() == parsed.alg;
        let verifies =
            |k: &&Arc<VerificationKey>| k.material.verify(parsed.signing_input, &parsed.signature);

        match &parsed.kid {
            Some(kid) => {
                let mut named = all()
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .peekable();
                if named.peek().is_some() {
                    return named
                        .filter(of_alg)
                        .find(verifies)
                        .cloned()
                        .ok_or(AuthError::BadSignature);
                }
                all()
                    .filter(|k| k.fallback)
                    .filter(of_alg)
                    .find(verifies)
                    .cloned()
                    .ok_or_else(|| AuthError::UnknownKeyId(echo(kid)))
            }
            None => all()
                .filter(of_alg)
                .find(verifies)
                .cloned()
                .ok_or(AuthError::BadSignature),
        }
    }
}

fn add_pem_keys(
    out: &mut Vec<Arc<VerificationKey>>,
    text: &[u8],
    origin: String,
) -> Result<(), AuthSetupError> {
    let keys = parse_pem_keys(text).map_err(|reason| AuthSetupError::InvalidKey {
        origin: origin.clone(),
        reason,
    })?;
    for (kid, material) in keys {
        out.push(Arc::new(VerificationKey {
            kid: Some(kid),
            fallback: true,
            material,
            origin: origin.clone(),
        }));
    }
    Ok(())
}

/// Splits and decodes a compact JWS (`header.payload.signature`) and vets the
/// header. Strict base64url (no padding, canonical trailing bits) keeps the
/// signed bytes unambiguous.
fn parse_compact(token: &str) -> Result<Parsed<'_>, AuthError> {
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed("token is too large"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed("expected three dot-separated parts"));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed("header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| AuthError::Malformed("header is not a JSON object"))?;

    let alg = match header.get("alg") {
        Some(Value::String(alg)) => {
            Alg::from_header(alg).ok_or_else(|| AuthError::WrongAlgorithm(echo(alg)))?
        }
        _ => return Err(AuthError::Malformed("header has no alg")),
    };
    // RFC 7515 §4.1.11: a recipient must reject a JWS whose `crit` lists
    // extensions it does not understand, and this one understands none.
    if header.contains_key("crit") {
        return Err(AuthError::Malformed(
            "unsupported critical header parameters",
        ));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed("kid is not a string")),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| AuthError::Malformed("signature is not base64url"))?;
    if signature.is_empty() {
        return Err(AuthError::BadSignature);
    }
    Ok(Parsed {
        alg,
        kid,
        signing_input: &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
        signature,
        payload_b64,
    })
}

/// Extracts the token from an `Authorization` header value: `Bearer <token>`,
/// scheme case-insensitive (RFC 7235 §2.1), surrounding whitespace ignored.
pub fn bearer_token(header_value: &str) -> Result<&str, AuthError> {
    let value = header_value.trim();
    if value.is_empty() {
        return Err(AuthError::MissingToken);
    }
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(
            "Authorization header must use the Bearer scheme",
        ));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    if token.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(AuthError::Malformed(
            "Authorization header has extra fields after the token",
        ));
    }
    Ok(token)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn unix_now() -> i64 {
    // A clock before 1970 is a broken host; 0 makes every token look
    // not-yet-valid or too long-lived rather than panicking.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(secs)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(bearer_token("bearer abc"), Ok("abc"));
        assert_eq!(bearer_token("BEARER   abc  "), Ok("abc"));
        assert_eq!(bearer_token("  Bearer\tabc"), Ok("abc"));
        assert_eq!(bearer_token(""), Err(AuthError::MissingToken));
        assert_eq!(bearer_token("   "), Err(AuthError::MissingToken));
        assert_eq!(bearer_token("Bearer"), Err(AuthError::MissingToken));
        assert_eq!(bearer_token("Bearer   "), Err(AuthError::MissingToken));
        assert!(matches!(
            bearer_token("Basic dXNlcjpwYXNz"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token("Bearerabc"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token("Bearer a b"),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token("abc.def.ghi"),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn compact_parsing_errors() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let hdr = |h: &str| format!("{}.{}.{}", b64(h), b64("{}"), b64("sig"));
        assert_eq!(parse_compact("").err(), Some(AuthError::MissingToken));
        assert!(matches!(
            parse_compact("a.b").err(),
            Some(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_compact("a.b.c.d").err(),
            Some(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_compact("!!.b.c").err(),
            Some(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_compact(&hdr("[]")).err(),
            Some(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_compact(&hdr("{}")).err(),
            Some(AuthError::Malformed(_))
        ));
        assert_eq!(
            parse_compact(&hdr(r#"{"alg":"none"}"#)).err(),
            Some(AuthError::WrongAlgorithm("none".into()))
        );
        assert_eq!(
            parse_compact(&hdr(r#"{"alg":"HS256"}"#)).err(),
            Some(AuthError::WrongAlgorithm("HS256".into()))
        );
        assert!(matches!(
            parse_compact(&hdr(r#"{"alg":"RS256","crit":["b64"]}"#)).err(),
            Some(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_compact(&hdr(r#"{"alg":"RS256","kid":5}"#)).err(),
            Some(AuthError::Malformed(_))
        ));
        // Padded base64 is not base64url-without-padding.
        let padded = format!("{}=.{}.{}", b64(r#"{"alg":"RS256"}"#), b64("{}"), b64("s"));
        assert!(matches!(
            parse_compact(&padded).err(),
            Some(AuthError::Malformed(_))
        ));
        let empty_sig = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(
            parse_compact(&empty_sig).err(),
            Some(AuthError::BadSignature)
        );
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(
            parse_compact(&huge).err(),
            Some(AuthError::Malformed(_))
        ));

        let token = hdr(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#);
        let ok = parse_compact(&token).unwrap();
        assert_eq!(ok.alg, Alg::Es256);
        assert_eq!(ok.kid.as_deref(), Some("k1"));
        assert_eq!(ok.signature, b"sig");
    }
}
