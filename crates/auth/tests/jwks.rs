//! JWKS: fetching from a local HTTP server on 127.0.0.1, key selection by
//! `kid`, on-demand and periodic refresh, key rotation, and outages.

mod common;

use std::time::Duration;

use auth::dev::DevKey;
use auth::{AuthError, Verifier, VerifierConfig};
use common::*;

fn jwks_config(url: &str) -> VerifierConfig {
    VerifierConfig {
        jwks_url: Some(url.to_owned()),
        audiences: vec!["localhost".into()],
        ..VerifierConfig::default()
    }
}

fn claims() -> serde_json::Value {
    noauth_claims("uss1", "localhost", &["utm.strategic_coordination"])
}

#[tokio::test]
async fn keys_are_selected_by_kid() {
    let server = JwksServer::start(jwks(&[
        rsa_jwk(A_PUBLIC, Some("key-a")),
        rsa_jwk(B_PUBLIC, Some("key-b")),
    ]))
    .await;
    let v = Verifier::new(jwks_config(&server.url)).await.unwrap();
    assert_eq!(server.hits(), 1);
    assert!(v.has_keys());

    assert!(v
        .verify(&sign_rs256(A_PRIVATE, Some("key-a"), &claims()))
        .is_ok());
    assert!(v
        .verify(&sign_rs256(B_PRIVATE, Some("key-b"), &claims()))
        .is_ok());
    // Signed by B but naming A: only A is tried.
    assert_eq!(
        v.verify(&sign_rs256(B_PRIVATE, Some("key-a"), &claims())),
        Err(AuthError::BadSignature)
    );
    // No kid (InterUSS style): every key is tried.
    assert!(v.verify(&sign_rs256(B_PRIVATE, None, &claims())).is_ok());
    // JWKs with a kid are not fallbacks for a foreign kid.
    assert_eq!(
        v.verify(&sign_rs256(A_PRIVATE, Some("other"), &claims())),
        Err(AuthError::UnknownKeyId("other".into()))
    );
}

#[tokio::test]
async fn jwks_without_kid_and_ignored_entries() {
    let server = JwksServer::start(jwks(&[
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
        serde_json::json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        rsa_jwk(A_PUBLIC, None),
    ]))
    .await;
    let v = Verifier::new(jwks_config(&server.url)).await.unwrap();
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims())).is_ok());
    // A kid-less JWK is the fallback for tokens naming a kid we don't know.
    assert!(v
        .verify(&sign_rs256(A_PRIVATE, Some("x"), &claims()))
        .is_ok());
    // The HMAC ("oct") entry must never make HS256 acceptable.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_eq!(
        v.verify(&hs),
        Err(AuthError::WrongAlgorithm("HS256".into()))
    );
}

#[tokio::test]
async fn es256_jwk_from_dev_key() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevKey::load_or_create(dir.path()).unwrap();
    let server = JwksServer::start(jwks(&[ec_jwk(&dev.public_key_pem(), dev.key_id())])).await;
    let v = Verifier::new(jwks_config(&server.url)).await.unwrap();
    let token = dev.mint(
        "uss9",
        &["utm.constraint_processing".into()],
        "localhost",
        Duration::from_secs(600),
    );
    let c = v.verify(&token).unwrap();
    assert_eq!(c.sub, "uss9");
    assert!(c.has_scope("utm.constraint_processing"));
}

/// Key rotation seen through an unknown `kid`: `verify_async` fetches the
/// new set once and succeeds; the retired key stops working; further unknown
/// kids inside the rate-limit window cause no more fetches.
#[tokio::test]
async fn unknown_kid_refreshes_on_demand_with_rate_limit() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("2024-a"))])).await;
    let v = Verifier::new(jwks_config(&server.url)).await.unwrap();
    assert_eq!(server.hits(), 1);
    let old = sign_rs256(A_PRIVATE, Some("2024-a"), &claims());
    assert!(v.verify(&old).is_ok());

    // The issuer rotates: A retired, B introduced.
    server.set_body(jwks(&[rsa_jwk(B_PUBLIC, Some("2025-b"))]));
    let new = sign_rs256(B_PRIVATE, Some("2025-b"), &claims());
    let c = v.verify_async(&new).await.unwrap();
    assert_eq!(c.sub, "uss1");
    assert_eq!(server.hits(), 2);
    assert!(v.verify(&new).is_ok());
    assert_eq!(
        v.verify(&old),
        Err(AuthError::UnknownKeyId("2024-a".into()))
    );

    // Within the 30 s window: no further fetch, whatever the tokens say.
    for kid in ["forged-1", "forged-2", "forged-3"] {
        let t = sign_rs256(B_PRIVATE, Some(kid), &claims());
        assert_eq!(
            v.verify_async(&t).await,
            Err(AuthError::UnknownKeyId(kid.into()))
        );
        assert_eq!(v.verify(&t), Err(AuthError::UnknownKeyId(kid.into())));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits(), 2);
}

/// The synchronous path cannot wait, but it starts a background refresh so
/// that the client's retry succeeds.
#[tokio::test]
async fn sync_verify_triggers_background_refresh() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("a"))])).await;
    let v = Verifier::new(jwks_config(&server.url)).await.unwrap();
    server.set_body(jwks(&[
        rsa_jwk(A_PUBLIC, Some("a")),
        rsa_jwk(B_PUBLIC, Some("b")),
    ]));
    let token = sign_rs256(B_PRIVATE, Some("b"), &claims());
    assert_eq!(v.verify(&token), Err(AuthError::UnknownKeyId("b".into())));
    server.wait_for_hits(2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match v.verify(&token) {
            Ok(_) => break,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "still {e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // One fetch only: later failures were inside the rate-limit window.
    assert_eq!(server.hits(), 2);
}

/// Rotation picked up by the periodic refresh alone, without any token
/// asking for it.
#[tokio::test]
async fn periodic_refresh_picks_up_rotation() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("a"))])).await;
    let mut cfg = jwks_config(&server.url);
    cfg.jwks_refresh = Duration::from_millis(200);
    let v = Verifier::new(cfg).await.unwrap();
    let old = sign_rs256(A_PRIVATE, Some("a"), &claims());
    let new = sign_rs256(B_PRIVATE, Some("b"), &claims());
    assert!(v.verify(&old).is_ok());

    let seen = server.hits();
    server.set_body(jwks(&[rsa_jwk(B_PUBLIC, Some("b"))]));
    // Fetches are sequential, so once a second fetch after the rotation has
    // started, the first one (which saw the new set) has been installed.
    server.wait_for_hits(seen + 2).await;
    assert!(v.verify(&new).is_ok());
    assert_eq!(v.verify(&old), Err(AuthError::UnknownKeyId("a".into())));
}

/// An unreachable or failing endpoint at start-up is not fatal: tokens are
/// refused until it answers, and the retry loop picks the keys up.
#[tokio::test]
async fn endpoint_down_at_start_then_recovers() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("a"))])).await;
    server.set_status(503);
    let mut cfg = jwks_config(&server.url);
    // Only the first refused token may trigger an on-demand fetch (and that
    // may still see the 503); after that, recovery is up to the retry loop,
    // whose first retry comes after 1 s.
    cfg.jwks_min_on_demand_interval = Duration::from_secs(3600);
    let v = Verifier::new(cfg).await.unwrap();
    assert!(!v.has_keys());
    let token = sign_rs256(A_PRIVATE, Some("a"), &claims());
    assert_eq!(v.verify(&token), Err(AuthError::KeysUnavailable));

    server.set_status(200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !v.has_keys() {
        assert!(tokio::time::Instant::now() < deadline, "keys never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(v.verify(&token).is_ok());
}

#[tokio::test]
async fn connection_refused_at_start_is_not_fatal() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = jwks_config(&format!("http://127.0.0.1:{port}/jwks.json"));
    cfg.extra_public_keys_pem = vec![read(A_PUBLIC)];
    let v = Verifier::new(cfg).await.unwrap();
    // Static keys keep working meanwhile.
    assert!(v.verify(&sign_rs256(A_PRIVATE, None, &claims())).is_ok());
    assert!(v.has_keys());
}

/// A broken document or an error status keeps the previous keys in force.
#[tokio::test]
async fn bad_refresh_keeps_previous_keys() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("a"))])).await;
    let mut cfg = jwks_config(&server.url);
    cfg.jwks_min_on_demand_interval = Duration::ZERO;
    let v = Verifier::new(cfg).await.unwrap();
    let token = sign_rs256(A_PRIVATE, Some("a"), &claims());
    let unknown = sign_rs256(A_PRIVATE, Some("zz"), &claims());

    for (status, body) in [
        (200, "not json".to_owned()),
        (200, jwks(&[])),
        (
            200,
            r#"{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}"#.to_owned(),
        ),
        (500, jwks(&[rsa_jwk(B_PUBLIC, Some("b"))])),
    ] {
        server.set_status(status);
        server.set_body(body);
        let before = server.hits();
        assert_eq!(
            v.verify_async(&unknown).await,
            Err(AuthError::UnknownKeyId("zz".into()))
        );
        assert_eq!(server.hits(), before + 1);
        assert!(v.verify(&token).is_ok(), "status {status}");
    }
}

#[tokio::test]
async fn verifier_drop_stops_refresh_task() {
    let server = JwksServer::start(jwks(&[rsa_jwk(A_PUBLIC, Some("a"))])).await;
    let mut cfg = jwks_config(&server.url);
    cfg.jwks_refresh = Duration::from_millis(50);
    let v = Verifier::new(cfg).await.unwrap();
    let clone = v.clone();
    server.wait_for_hits(3).await;
    drop(v);
    drop(clone);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = server.hits();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(), after_drop);
}
