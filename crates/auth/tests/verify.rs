//! Verification with statically configured keys (PEM files / PEM text).

mod common;

use std::time::Duration;

use auth::{
    bearer_token, key_id_for_spki_der, AuthError, AuthSetupError, Verifier, VerifierConfig,
};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

#[test]
fn verifier_is_send_sync_clone() {
    assert_send_sync_clone::<Verifier>();
    assert_send_sync_clone::<AuthError>();
}

/// Tokens captured byte for byte from interuss-monitoring 0.37.0's
/// `NoAuth(sub=uss1)`, checked at a time inside their validity window.
#[tokio::test]
async fn captured_interuss_noauth_tokens_are_accepted() {
    let v = verifier(&[INTERUSS_PUBLIC]).await;
    let tokens = read("interuss-noauth-captured-tokens.txt");
    let tokens: Vec<&str> = tokens.lines().collect();
    assert_eq!(tokens.len(), 2);
    // Both were minted in the same second: nbf = t - 1, exp = t + 3600.
    let (nbf, exp) = (1_795_613_237, 1_795_616_838);
    let t = nbf + 1;

    let c = v.verify_at(tokens[0], t).unwrap();
    assert_eq!(c.sub, "uss1");
    assert_eq!(c.client_id.as_deref(), Some("uss1"));
    assert_eq!(c.issuer.as_deref(), Some("NoAuth"));
    assert_eq!(c.expires_at, exp);
    assert!(c.has_scope(auth::scopes::STRATEGIC_COORDINATION));
    assert_eq!(c.scopes.len(), 1);

    let c = v.verify_at(tokens[1], t).unwrap();
    assert!(c.has_scope(auth::scopes::STRATEGIC_COORDINATION));
    assert!(c.has_scope(auth::scopes::CONFORMANCE_MONITORING_SA));

    // exp = t + 3600 exactly is within the default 1 h cap (leeway gives slack),
    // even if our clock runs a few seconds behind the tool's.
    assert!(v.verify_at(tokens[0], t - 5).is_ok());
    // After exp (plus leeway); before nbf (minus leeway), where the lifetime
    // cap also trips, so check nbf without the cap.
    assert_eq!(v.verify_at(tokens[0], exp + 10), Err(AuthError::Expired));
    assert!(v.verify_at(tokens[0], nbf - 11).is_err());
    let mut cfg = config(&[INTERUSS_PUBLIC], &["localhost"]);
    cfg.max_lifetime = None;
    let uncapped = Verifier::new(cfg).await.unwrap();
    assert_eq!(
        uncapped.verify_at(tokens[0], nbf - 11),
        Err(AuthError::NotYetValid)
    );

    // The second token's aud is "127.0.0.1": refused where only localhost is accepted.
    let only_localhost = Verifier::new(config(&[INTERUSS_PUBLIC], &["localhost"]))
        .await
        .unwrap();
    assert!(only_localhost.verify_at(tokens[0], t).is_ok());
    assert_eq!(
        only_localhost.verify_at(tokens[1], t),
        Err(AuthError::WrongAudience(Some("\"127.0.0.1\"".into())))
    );
}

/// A fresh NoAuth-shaped token signed with the real InterUSS test key, checked
/// against the current clock: exp = now + 3600 (the cap's edge), no iat, no kid.
#[tokio::test]
async fn fresh_noauth_token_with_interuss_key_is_accepted() {
    let v = verifier(&[INTERUSS_PUBLIC]).await;
    for aud in ["localhost", "127.0.0.1"] {
        let claims = noauth_claims("uss2", aud, &["utm.strategic_coordination"]);
        assert!(claims.get("iat").is_none());
        let token = sign_rs256(INTERUSS_PRIVATE, None, &claims);
        let c = v.verify(&token).unwrap();
        assert_eq!(c.sub, "uss2");
    }
}

#[tokio::test]
async fn noauth_shape_with_test_key_and_lifetime_slack() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &["utm.strategic_coordination"]);
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
    // A few seconds of issuer clock skew past 1 h is tolerated ...
    claims["exp"] = json!(now() + 3605);
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
    // ... but not a longer lifetime.
    claims["exp"] = json!(now() + 3600 + 60);
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::LifetimeTooLong { max_seconds: 3600 })
    );
}

#[tokio::test]
async fn iat_absent_or_present_is_fine() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &[]);
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
    claims["iat"] = json!(now());
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
}

#[tokio::test]
async fn wrong_or_missing_audience() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "dss.example.com", &[]);
    let err = v.verify(&sign_rs256(A_PRIVATE, None, &claims)).unwrap_err();
    assert_eq!(
        err,
        AuthError::WrongAudience(Some("\"dss.example.com\"".into()))
    );
    assert!(err.to_string().contains("dss.example.com"), "{err}");

    claims["aud"] = json!(["a", "localhost"]);
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());

    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::WrongAudience(None))
    );
}

#[tokio::test]
async fn expired_token() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &[]);
    claims["nbf"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 60);
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::Expired)
    );
    // Inside the 10 s leeway: still accepted.
    claims["exp"] = json!(now() - 3);
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
    // exp is mandatory.
    claims.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test]
async fn nbf_in_the_future() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &[]);
    claims["nbf"] = json!(now() + 120);
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::NotYetValid)
    );
    claims["nbf"] = json!(now() + 3); // within leeway
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims)).is_ok());
}

#[tokio::test]
async fn signature_by_another_key_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &[]);
    assert_eq!(
        v.verify(&sign_rs256(B_PRIVATE, None, &claims)),
        Err(AuthError::BadSignature)
    );
    // InterUSS "InvalidTokenSignatureAuth" case: same shape, other RSA key.
    let v = verifier(&[INTERUSS_PUBLIC]).await;
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let token = sign_rs256(A_PRIVATE, None, &noauth_claims("uss1", "localhost", &[]));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = noauth_claims("admin", "localhost", &["utm.availability_arbitration"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_vec(&forged_claims).unwrap()),
        parts[2]
    );
    assert_eq!(v.verify(&forged), Err(AuthError::BadSignature));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &[]);
    let valid = sign_rs256(A_PRIVATE, None, &claims);
    let valid_sig = valid.rsplit('.').next().unwrap();
    for alg in ["none", "None", "NONE"] {
        let header = json!({"typ": "JWT", "alg": alg});
        // Unsigned, as an attacker would send it ...
        let unsigned = format!(
            "{}.{}.",
            b64(serde_json::to_vec(&header).unwrap()),
            b64(serde_json::to_vec(&claims).unwrap())
        );
        assert_eq!(
            v.verify(&unsigned),
            Err(AuthError::WrongAlgorithm(alg.into()))
        );
        // ... and with a valid-looking signature attached.
        let with_sig = format!(
            "{}.{}.{valid_sig}",
            b64(serde_json::to_vec(&header).unwrap()),
            b64(serde_json::to_vec(&claims).unwrap())
        );
        assert_eq!(
            v.verify(&with_sig),
            Err(AuthError::WrongAlgorithm(alg.into()))
        );
    }
}

/// The classic algorithm-confusion attack: HS256 with the server's RSA public
/// key (as PEM text, or as DER) used as the HMAC secret.
#[tokio::test]
async fn hs256_with_public_key_as_secret_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &[]);
    let pem = read(A_PUBLIC);
    let der = pem::parse(pem.as_bytes()).unwrap().into_contents();
    for secret in [pem.as_bytes(), pem.trim().as_bytes(), der.as_slice()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap();
            let err = v.verify(&token).unwrap_err();
            assert!(
                matches!(err, AuthError::WrongAlgorithm(_)),
                "{alg:?}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn other_asymmetric_algorithms_are_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &[]);
    let key = EncodingKey::from_rsa_pem(read(A_PRIVATE).as_bytes()).unwrap();
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
        assert!(
            matches!(v.verify(&token), Err(AuthError::WrongAlgorithm(_))),
            "{alg:?}"
        );
    }
    // An RSA signature relabelled ES256 finds no EC key to check against.
    let token = sign_rs256(A_PRIVATE, None, &claims);
    let parts: Vec<&str> = token.split('.').collect();
    let relabelled = format!(
        "{}.{}.{}",
        b64(r#"{"typ":"JWT","alg":"ES256"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(v.verify(&relabelled), Err(AuthError::BadSignature));
}

#[tokio::test]
async fn missing_or_empty_sub_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &[]);
    claims.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::MissingSubject)
    );
    claims["sub"] = json!("");
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, None, &claims)),
        Err(AuthError::MissingSubject)
    );
}

#[tokio::test]
async fn exp_too_far_in_the_future_is_refused() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &[]);
    claims["exp"] = json!(now() + 86_400);
    let token = sign_rs256(A_PRIVATE, None, &claims);
    assert_eq!(
        v.verify(&token),
        Err(AuthError::LifetimeTooLong { max_seconds: 3600 })
    );
    // The cap is configurable and can be disabled.
    let mut cfg = config(&[A_PUBLIC], &["localhost"]);
    cfg.max_lifetime = None;
    assert!(Verifier::new(cfg).await.unwrap().verify(&token).is_ok());
    let mut cfg = config(&[A_PUBLIC], &["localhost"]);
    cfg.max_lifetime = Some(Duration::from_secs(2 * 86_400));
    assert!(Verifier::new(cfg).await.unwrap().verify(&token).is_ok());
}

#[tokio::test]
async fn scopes_from_string_and_arrays() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", "localhost", &["a", "b"]);
    let c = v.verify(&sign_rs256(A_PRIVATE, None, &claims)).unwrap();
    assert!(c.has_scope("a") && c.has_scope("b") && !c.has_scope("c"));
    claims["scope"] = json!(["c", "d"]);
    claims["scp"] = json!("e");
    let c = v.verify(&sign_rs256(A_PRIVATE, None, &claims)).unwrap();
    assert_eq!(
        c.scopes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["c", "d", "e"]
    );
    assert!(c.has_any_scope(&["x", "e"]));
}

#[tokio::test]
async fn key_formats_spki_pkcs1_and_certificate() {
    let claims = noauth_claims("uss1", "localhost", &[]);
    let token = sign_rs256(A_PRIVATE, None, &claims);
    let spki_der = pem::parse(read(A_PUBLIC).as_bytes())
        .unwrap()
        .into_contents();
    let kid = key_id_for_spki_der(&spki_der);
    let with_our_kid = sign_rs256(A_PRIVATE, Some(&kid), &claims);
    for file in [
        A_PUBLIC,
        "test-only-rsa-a-public-pkcs1.pem",
        "test-only-rsa-a-cert.pem",
    ] {
        let v = verifier(&[file]).await;
        assert!(v.verify(&token).is_ok(), "{file}");
        // Every encoding of the key gets the same derived key id.
        assert!(v.verify(&with_our_kid).is_ok(), "{file}");
    }
    // Several keys in one file.
    let both = format!("{}\n{}", read(B_PUBLIC), read(A_PUBLIC));
    let v = Verifier::new(VerifierConfig {
        extra_public_keys_pem: vec![both],
        audiences: vec!["localhost".into()],
        ..VerifierConfig::default()
    })
    .await
    .unwrap();
    assert!(v.verify(&token).is_ok());
    assert!(v.verify(&sign_rs256(B_PRIVATE, None, &claims)).is_ok());
}

/// A token whose `kid` we do not know is still checked against PEM keys
/// (their issuer does not know our ids), and refused as unknown otherwise.
#[tokio::test]
async fn foreign_kid_with_static_keys() {
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &[]);
    assert!(v
        .verify(&sign_rs256(A_PRIVATE, Some("issuer-key-7"), &claims))
        .is_ok());
    assert_eq!(
        v.verify(&sign_rs256(B_PRIVATE, Some("issuer-key-7"), &claims)),
        Err(AuthError::UnknownKeyId("issuer-key-7".into()))
    );
    // A kid naming one of our keys selects only that key.
    let a_kid = key_id_for_spki_der(
        &pem::parse(read(A_PUBLIC).as_bytes())
            .unwrap()
            .into_contents(),
    );
    let v = verifier(&[A_PUBLIC, B_PUBLIC]).await;
    assert!(v.verify(&sign_rs256(B_PRIVATE, None, &claims)).is_ok());
    assert_eq!(
        v.verify(&sign_rs256(B_PRIVATE, Some(&a_kid), &claims)),
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn setup_errors_are_clear() {
    // No audiences.
    let err = Verifier::new(config(&[A_PUBLIC], &[])).await.unwrap_err();
    assert!(matches!(err, AuthSetupError::NoAudiences), "{err}");
    let err = Verifier::new(config(&[A_PUBLIC], &["", " "]))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthSetupError::NoAudiences), "{err}");
    // No keys.
    let err = Verifier::new(config(&[], &["localhost"]))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthSetupError::NoKeySources), "{err}");
    // Bad files: each error names the file.
    for (file, needle) in [
        ("does-not-exist.pem", "cannot read"),
        ("test-only-ec-p384-public.pem", "P-256"),
        ("test-only-rsa-1024-public.pem", "2048"),
        (A_PRIVATE, "private key"),
        ("README.md", "PEM"),
    ] {
        let err = Verifier::new(config(&[A_PUBLIC, file], &["localhost"]))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(file), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }
    let err = Verifier::new(VerifierConfig {
        extra_public_keys_pem: vec!["garbage".into()],
        audiences: vec!["localhost".into()],
        ..VerifierConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("extra_public_keys_pem[0]"),
        "{err}"
    );
    // Bad JWKS URL.
    let mut cfg = config(&[], &["localhost"]);
    cfg.jwks_url = Some("ftp://example.com/jwks".into());
    assert!(matches!(
        Verifier::new(cfg).await.unwrap_err(),
        AuthSetupError::InvalidJwksUrl { .. }
    ));
}

#[tokio::test]
async fn malformed_tokens() {
    let v = verifier(&[A_PUBLIC]).await;
    assert_eq!(v.verify(""), Err(AuthError::MissingToken));
    for bad in [
        "x",
        "a.b",
        "a.b.c.d",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "eyJhbGciOiJSUzI1NiJ9.!!!.c2ln",
    ] {
        assert!(
            matches!(
                v.verify(bad),
                Err(AuthError::Malformed(_) | AuthError::BadSignature)
            ),
            "{bad}: {:?}",
            v.verify(bad)
        );
    }
    // A validly signed payload that is not a JSON object.
    let key = EncodingKey::from_rsa_pem(read(A_PRIVATE).as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &json!([1, 2]), &key).unwrap();
    assert!(matches!(v.verify(&token), Err(AuthError::Malformed(_))));
    // A header that is JSON but not an object.
    let token = raw_token(&json!("RS256"), &json!({}), b"sig");
    assert!(matches!(v.verify(&token), Err(AuthError::Malformed(_))));
}

#[tokio::test]
async fn error_messages_are_short_single_lines() {
    let v = verifier(&[A_PUBLIC]).await;
    let mut claims = noauth_claims("uss1", &"x".repeat(500), &[]);
    let err = v.verify(&sign_rs256(A_PRIVATE, None, &claims)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.len() < 160, "{msg}");
    assert_eq!(err.code(), "wrong_audience");
    claims["aud"] = json!("localhost");
    let header: Value = json!({"alg": "A".repeat(1000)});
    let err = v.verify(&raw_token(&header, &claims, b"s")).unwrap_err();
    assert!(err.to_string().len() < 160);
    for e in [
        AuthError::MissingToken,
        AuthError::Malformed("x"),
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::LifetimeTooLong { max_seconds: 3600 },
        AuthError::MissingSubject,
        AuthError::UnknownKeyId("k".into()),
        AuthError::KeysUnavailable,
    ] {
        let m = e.to_string();
        assert!(!m.is_empty() && !m.contains('\n') && m.len() < 160, "{m}");
    }
}

#[tokio::test]
async fn bearer_header_round_trip() {
    let v = verifier(&[A_PUBLIC]).await;
    let token = sign_rs256(A_PRIVATE, None, &noauth_claims("uss1", "localhost", &[]));
    let header = format!("bearer {token}");
    assert!(v.verify(bearer_token(&header).unwrap()).is_ok());
    assert_eq!(bearer_token(""), Err(AuthError::MissingToken));
}

#[tokio::test]
async fn a_token_verified_once_is_still_checked_in_full_on_reuse() {
    // The second use of a token skips the signature (cached), never the claims.
    let v = verifier(&[A_PUBLIC]).await;
    let claims = noauth_claims("uss1", "localhost", &["utm.strategic_coordination"]);
    let token = sign_rs256(A_PRIVATE, None, &claims);
    for _ in 0..3 {
        assert_eq!(v.verify(&token).unwrap().sub, "uss1");
    }
    // Past its expiry (plus leeway), the cached token is refused.
    assert_eq!(
        v.verify_at(&token, now() + 3600 + 60),
        Err(AuthError::Expired)
    );
    // Any change to the token is another token: verified afresh, and refused.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert!(v.verify(&forged).is_err());
    // The same signed bytes offered to a verifier without that key: refused.
    let other = verifier(&[B_PUBLIC]).await;
    assert!(other.verify(&token).is_err());
    // A cached token's nbf still holds: offered earlier than it, refused.
    let mut early = claims.clone();
    early["nbf"] = json!(now() + 3); // within leeway now
    early["exp"] = json!(now() + 600); // within the 1 h cap even 2 minutes early
    let early = sign_rs256(A_PRIVATE, None, &early);
    assert!(v.verify(&early).is_ok());
    assert_eq!(
        v.verify_at(&early, now() - 120),
        Err(AuthError::NotYetValid)
    );
    assert!(v.verify(&early).is_ok());
}
