//! Verified token claims and the claim checks that produce them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::error::{echo, AuthError};

/// What the service learns from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `sub`: the subject, used as the owner of the entities it creates.
    pub sub: String,
    /// Scopes granted, from `scope` and/or `scp` (space-separated string or
    /// array of strings).
    pub scopes: BTreeSet<String>,
    /// `client_id` (RFC 9068), falling back to `azp` when absent.
    pub client_id: Option<String>,
    /// `iss`, if present (not checked: trust comes from the signing key).
    pub issuer: Option<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Claims {
    /// Whether the token grants scope `s`.
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.contains(s)
    }

    /// Whether the token grants at least one of `scopes`.
    pub fn has_any_scope(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.has_scope(s))
    }
}

/// Time-related validation settings, in whole seconds.
#[derive(Debug, Clone)]
pub(crate) struct TimePolicy {
    pub(crate) leeway: i64,
    pub(crate) max_lifetime: Option<i64>,
}

/// The checks of a token's validity window at `now`: the only claim checks
/// whose answer changes while a token is in use (see the verifier's cache).
pub(crate) fn check_times(
    exp: i64,
    nbf: Option<i64>,
    policy: &TimePolicy,
    now: i64,
) -> Result<(), AuthError> {
    // RFC 7519 §4.1.4: reject "on or after" exp; leeway absorbs clock skew.
    if now >= exp.saturating_add(policy.leeway) {
        return Err(AuthError::Expired);
    }
    // The InterUSS conformance tool mints exp = now + 3600 exactly, and the
    // reference DSS caps at 1 h, so the cap gets the same leeway as exp so
    // that a just-minted 1 h token with a slightly fast issuer clock passes.
    if let Some(max) = policy.max_lifetime {
        if exp > now.saturating_add(max).saturating_add(policy.leeway) {
            return Err(AuthError::LifetimeTooLong { max_seconds: max });
        }
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(policy.leeway)) {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

/// Checks the claims of a token whose signature has already been verified
/// and extracts [`Claims`]. `now` is seconds since the Unix epoch.
pub(crate) fn validate(
    claims: &Map<String, Value>,
    audiences: &[String],
    policy: &TimePolicy,
    now: i64,
) -> Result<Claims, AuthError> {
    // exp is mandatory: a token that never expires cannot be revoked by
    // rotation and is exactly what a leaked-token attacker wants.
    let exp = match claims.get("exp") {
        None => return Err(AuthError::Malformed("token has no exp claim")),
        Some(v) => numeric_date(v).ok_or(AuthError::Malformed("exp is not a number"))?,
    };
    let nbf = match claims.get("nbf") {
        None => None,
        Some(v) => Some(numeric_date(v).ok_or(AuthError::Malformed("nbf is not a number"))?),
    };
    check_times(exp, nbf, policy, now)?;
    // iat is deliberately not required (the conformance tool omits it) and
    // not interpreted: exp and nbf already bound the validity window.

    check_audience(claims.get("aud"), audiences)?;

    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(AuthError::MissingSubject),
    };

    let mut scopes = BTreeSet::new();
    for name in ["scope", "scp"] {
        if let Some(v) = claims.get(name) {
            collect_scopes(v, &mut scopes).ok_or(AuthError::Malformed(
                "scope must be a string or an array of strings",
            ))?;
        }
    }

    let client_id = optional_string(claims, "client_id")
        .or_else(|| optional_string(claims, "azp"))
        .filter(|s| !s.is_empty());
    let issuer = optional_string(claims, "iss");

    Ok(Claims {
        sub,
        scopes,
        client_id,
        issuer,
        expires_at: exp,
    })
}

/// A JSON NumericDate: integer or (RFC 7519 allows it) fractional seconds.
/// Fractions are truncated toward negative infinity; out-of-range values
/// saturate, which makes them fail the time checks rather than wrap.
pub(crate) fn numeric_date(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?; // also covers u64 beyond i64::MAX
    f.is_finite().then(|| f.floor() as i64)
}

/// `aud` may be one string or an array of strings (RFC 7519 §4.1.3); it must
/// name at least one accepted audience.
fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), AuthError> {
    let matches = |s: &str| accepted.iter().any(|a| a == s);
    match aud {
        None | Some(Value::Null) => Err(AuthError::WrongAudience(None)),
        Some(Value::String(s)) => {
            if matches(s) {
                Ok(())
            } else {
                Err(AuthError::WrongAudience(Some(echo(&format!("{s:?}")))))
            }
        }
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(s) = item else {
                    return Err(AuthError::Malformed(
                        "aud must be a string or an array of strings",
                    ));
                };
                if matches(s) {
                    return Ok(());
                }
                names.push(s.as_str());
            }
            if names.is_empty() {
                Err(AuthError::WrongAudience(None))
            } else {
                Err(AuthError::WrongAudience(Some(echo(&format!("{names:?}")))))
            }
        }
        Some(_) => Err(AuthError::Malformed(
            "aud must be a string or an array of strings",
        )),
    }
}

/// Adds the scopes in a `scope`/`scp` value; `None` if it has the wrong type.
fn collect_scopes(v: &Value, out: &mut BTreeSet<String>) -> Option<()> {
    match v {
        Value::String(s) => {
            out.extend(s.split_whitespace().map(str::to_owned));
            Some(())
        }
        Value::Array(items) => {
            for item in items {
                out.extend(item.as_str()?.split_whitespace().map(str::to_owned));
            }
            Some(())
        }
        _ => None,
    }
}

fn optional_string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn policy() -> TimePolicy {
        TimePolicy {
            leeway: 10,
            max_lifetime: Some(3600),
        }
    }

    fn auds() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into()]
    }

    fn check(v: Value) -> Result<Claims, AuthError> {
        let Value::Object(map) = v else { panic!() };
        validate(&map, &auds(), &policy(), NOW)
    }

    #[test]
    fn noauth_shape_is_accepted() {
        let c = check(json!({
            "sub": "uss1", "client_id": "uss1",
            "scope": "utm.strategic_coordination utm.conformance_monitoring_sa",
            "aud": "localhost", "iss": "NoAuth", "nbf": NOW - 1, "exp": NOW + 3600,
            "jti": "x"
        }))
        .unwrap();
        assert_eq!(c.sub, "uss1");
        assert_eq!(c.client_id.as_deref(), Some("uss1"));
        assert_eq!(c.issuer.as_deref(), Some("NoAuth"));
        assert_eq!(c.expires_at, NOW + 3600);
        assert!(c.has_scope("utm.strategic_coordination"));
        assert!(c.has_any_scope(&["nope", "utm.conformance_monitoring_sa"]));
        assert!(!c.has_any_scope(&["nope"]));
    }

    #[test]
    fn time_boundaries() {
        let base =
            |exp: Value, nbf: Value| json!({"sub":"s","aud":"localhost","exp":exp,"nbf":nbf});
        // exp within leeway in the past: accepted; at exp+leeway: expired.
        assert!(check(base(json!(NOW - 9), json!(0))).is_ok());
        assert_eq!(
            check(base(json!(NOW - 10), json!(0))),
            Err(AuthError::Expired)
        );
        // Lifetime cap: max + leeway accepted, one more second refused.
        assert!(check(base(json!(NOW + 3610), json!(0))).is_ok());
        assert_eq!(
            check(base(json!(NOW + 3611), json!(0))),
            Err(AuthError::LifetimeTooLong { max_seconds: 3600 })
        );
        // nbf up to leeway in the future accepted.
        assert!(check(base(json!(NOW + 60), json!(NOW + 10))).is_ok());
        assert_eq!(
            check(base(json!(NOW + 60), json!(NOW + 11))),
            Err(AuthError::NotYetValid)
        );
        // Fractional and huge values.
        assert!(check(base(json!(NOW as f64 + 60.5), json!(0.5))).is_ok());
        assert!(matches!(
            check(base(json!(u64::MAX), json!(0))),
            Err(AuthError::LifetimeTooLong { .. })
        ));
        assert_eq!(
            check(base(json!(-1e300), json!(0))),
            Err(AuthError::Expired)
        );
        assert!(matches!(
            check(base(json!("soon"), json!(0))),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check(json!({"sub":"s","aud":"localhost"})),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn no_lifetime_cap_when_disabled() {
        let Value::Object(map) = json!({"sub":"s","aud":"localhost","exp": NOW + 10 * 86400})
        else {
            panic!()
        };
        let p = TimePolicy {
            leeway: 10,
            max_lifetime: None,
        };
        assert!(validate(&map, &auds(), &p, NOW).is_ok());
    }

    #[test]
    fn audience_forms() {
        let with = |aud: Value| json!({"sub":"s","aud":aud,"exp":NOW + 60});
        assert!(check(with(json!(["other", "127.0.0.1"]))).is_ok());
        assert_eq!(
            check(with(json!("example.com"))),
            Err(AuthError::WrongAudience(Some("\"example.com\"".into())))
        );
        assert!(matches!(
            check(with(json!(["a", "b"]))),
            Err(AuthError::WrongAudience(Some(_)))
        ));
        assert_eq!(check(with(json!([]))), Err(AuthError::WrongAudience(None)));
        assert_eq!(
            check(with(Value::Null)),
            Err(AuthError::WrongAudience(None))
        );
        assert!(matches!(
            check(with(json!(5))),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            check(with(json!([5]))),
            Err(AuthError::Malformed(_))
        ));
        // Audience matching is exact: no case folding, no prefix matching.
        assert!(check(with(json!("LOCALHOST"))).is_err());
        assert!(check(with(json!("localhost:8082"))).is_err());
    }

    #[test]
    fn subject_required() {
        let with = |sub: Value| json!({"sub":sub,"aud":"localhost","exp":NOW + 60});
        assert_eq!(check(with(json!(""))), Err(AuthError::MissingSubject));
        assert_eq!(check(with(json!("  "))), Err(AuthError::MissingSubject));
        assert_eq!(check(with(json!(7))), Err(AuthError::MissingSubject));
        assert_eq!(
            check(json!({"aud":"localhost","exp":NOW + 60})),
            Err(AuthError::MissingSubject)
        );
    }

    #[test]
    fn scope_forms() {
        let c = check(json!({
            "sub":"s","aud":"localhost","exp":NOW + 60,
            "scope":"  a   b ", "scp":["c", "d e"], "azp":"client-x"
        }))
        .unwrap();
        let want: BTreeSet<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(c.scopes, want);
        assert_eq!(c.client_id.as_deref(), Some("client-x"));
        assert!(c.issuer.is_none());
        assert!(matches!(
            check(json!({"sub":"s","aud":"localhost","exp":NOW + 60,"scope":{"a":1}})),
            Err(AuthError::Malformed(_))
        ));
        let none = check(json!({"sub":"s","aud":"localhost","exp":NOW + 60})).unwrap();
        assert!(none.scopes.is_empty());
    }
}
