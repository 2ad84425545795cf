//! The service configured with an identity provider's PEM key: its tokens are
//! accepted, others are not, and development mode is off.

mod common;
use common::*;
use serde_json::json;

fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../auth/tests/data")
        .join(name)
}

fn sign(private_pem: &str, sub: &str, scope: &str, aud: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": sub, "scope": scope, "aud": aud, "iss": "idp",
                        "nbf": now - 1, "exp": now + 3600, "client_id": sub});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        std::fs::read_to_string(data(private_pem))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

#[test]
fn only_tokens_of_the_configured_key_and_audience_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let key = data("test-only-rsa-a-public.pem");
    let s = Server::start_in(
        tmp.path(),
        &[
            "--public-key",
            key.to_str().unwrap(),
            "--audiences",
            "dss.example,other.example",
        ],
    );
    // No development key is created when a real key is configured.
    assert!(!tmp.path().join("dev-signing-key.pem").exists());
    let path = "/dss/v1/operational_intent_references/query";
    let body = json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 60)});

    let good = sign("test-only-rsa-a-private.pem", "alpha", SC, "other.example");
    let (st, v) = s.call("POST", path, Some(&good), Some(&body));
    assert_eq!(st, 200, "{v}");

    let other_key = sign("test-only-rsa-b-private.pem", "alpha", SC, "dss.example");
    let (st, _) = s.call("POST", path, Some(&other_key), Some(&body));
    assert_eq!(st, 401);

    let wrong_aud = sign("test-only-rsa-a-private.pem", "alpha", SC, "localhost");
    let (st, v) = s.call("POST", path, Some(&wrong_aud), Some(&body));
    assert_eq!(st, 401, "{v}");

    // A development token (own key minted into this data dir) is refused too.
    let dev = s.token("alpha", &[SC]);
    let (st, _) = s.call("POST", path, Some(&dev), Some(&body));
    assert_eq!(st, 401);

    // Nor does this service mint tokens.
    let (st, _) = s.call("GET", "/v1/dev/token", None, None);
    assert_eq!(st, 404);
    let (st, _) = s.call(
        "POST",
        "/v1/dev/token",
        None,
        Some(&json!({"sub": "alpha"})),
    );
    assert_eq!(st, 404);
}
