//! Error types.
//!
//! [`AuthError`] is what a request gets back: its `Display` text is meant to go
//! verbatim into a 401 body (`{"message": ...}`), so it is short, never
//! contains key material, and echoes token-supplied values only in truncated
//! form (echoing e.g. the token's `aud` is what makes a "localhost" vs
//! "127.0.0.1" mix-up diagnosable from the client side).
//!
//! [`AuthSetupError`] is what the operator gets at start-up: it names the file
//! or setting at fault.

use std::path::PathBuf;

/// Longest token-supplied string echoed back in an error message.
const MAX_ECHO_CHARS: usize = 64;

/// Why a bearer token was refused. Every variant maps to HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or an empty token.
    #[error("missing bearer access token")]
    MissingToken,
    /// Not a well-formed compact JWS / JWT, or a claim has the wrong type.
    #[error("malformed access token: {0}")]
    Malformed(&'static str),
    /// The signature does not verify with the selected key(s).
    #[error("access token signature verification failed")]
    BadSignature,
    /// The header's `alg` is not RS256 or ES256 (this includes `none` and
    /// every HMAC algorithm). Holds the (truncated) `alg` value.
    #[error("access token algorithm {0:?} is not accepted (only RS256 and ES256 are)")]
    WrongAlgorithm(String),
    /// `aud` is missing or names none of the audiences this service accepts.
    /// Holds the token's (truncated) audience, `None` when absent.
    #[error("{}", audience_message(.0))]
    WrongAudience(Option<String>),
    /// `exp` is in the past (beyond the leeway).
    #[error("access token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("access token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// `exp` is further in the future than the configured maximum lifetime.
    #[error("access token lifetime is too long: exp may be at most {max_seconds} s from now")]
    LifetimeTooLong {
        /// The maximum accepted lifetime, in seconds, leeway excluded.
        max_seconds: i64,
    },
    /// `sub` is absent, not a string, or empty.
    #[error("access token has no subject (sub)")]
    MissingSubject,
    /// The header's `kid` matches no known key and no key without an id
    /// verified the signature. Holds the (truncated) `kid`.
    #[error("access token key id {0:?} is unknown")]
    UnknownKeyId(String),
    /// There is no key at all to verify with yet (JWKS not fetched so far).
    #[error("no access token verification keys are available yet")]
    KeysUnavailable,
}

fn audience_message(found: &Option<String>) -> String {
    match found {
        Some(aud) => format!("access token audience {aud} is not accepted by this service"),
        None => "access token has no audience (aud)".to_owned(),
    }
}

impl AuthError {
    /// A stable, machine-readable identifier for the variant, suitable for
    /// metric labels and structured logs.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed(_) => "malformed",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongAlgorithm(_) => "wrong_algorithm",
            AuthError::WrongAudience(_) => "wrong_audience",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::LifetimeTooLong { .. } => "lifetime_too_long",
            AuthError::MissingSubject => "missing_subject",
            AuthError::UnknownKeyId(_) => "unknown_key_id",
            AuthError::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Truncates a token-supplied string before it is put in an error message,
/// on a character boundary.
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Why a [`crate::Verifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthSetupError {
    /// `audiences` is empty (or holds only empty strings): every token would be
    /// refused, which is never what the operator meant.
    #[error("no accepted token audiences configured: at least one non-empty audience is required")]
    NoAudiences,
    /// Neither key files, nor extra PEM keys, nor a JWKS URL were given.
    #[error(
        "no token verification keys configured: give public key files, PEM keys or a JWKS URL"
    )]
    NoKeySources,
    /// A setting has an unusable value.
    #[error("invalid auth configuration: {0}")]
    InvalidConfig(String),
    /// A public key file could not be read.
    #[error("cannot read public key file {}: {source}", path.display())]
    ReadKeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A public key file or PEM string does not hold a usable key.
    #[error("invalid public key in {origin}: {reason}")]
    InvalidKey {
        /// The file path, or `extra_public_keys_pem[i]`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWKS URL does not parse or is not http(s).
    #[error("invalid JWKS URL {url:?}: {reason}")]
    InvalidJwksUrl {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client for the JWKS endpoint could not be built.
    #[error("cannot build the HTTP client for the JWKS endpoint: {0}")]
    HttpClient(String),
    /// [`crate::Verifier::new`] was called outside a Tokio runtime while a JWKS
    /// URL is configured (the refresh task needs one).
    #[error("a Tokio runtime is required to use a JWKS URL")]
    NoRuntime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_truncates_on_char_boundary() {
        let long = "é".repeat(100);
        let out = echo(&long);
        assert_eq!(out.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(echo("short"), "short");
    }

    #[test]
    fn audience_message_mentions_value() {
        let e = AuthError::WrongAudience(Some("\"localhost\"".into()));
        assert!(e.to_string().contains("localhost"));
        assert_eq!(
            AuthError::WrongAudience(None).to_string(),
            "access token has no audience (aud)"
        );
    }
}
