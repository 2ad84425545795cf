//! Property tests: arbitrary input never panics and is never accepted, and no
//! single-character change to a valid token survives verification.

mod common;

use std::sync::OnceLock;

use auth::{bearer_token, Verifier};
use common::*;
use proptest::prelude::*;
use serde_json::json;

/// One verifier (RSA key A + an EC key) shared by all cases; building it
/// needs a runtime only for reading the key files.
fn shared() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dev = auth::dev::DevKey::load_or_create(dir.path()).unwrap();
        let mut cfg = config(&[A_PUBLIC], &["localhost"]);
        cfg.extra_public_keys_pem = vec![dev.public_key_pem()];
        rt.block_on(Verifier::new(cfg)).unwrap()
    })
}

fn valid_token() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| {
        let mut claims = noauth_claims("uss1", "localhost", &["utm.strategic_coordination"]);
        // Far enough from the edges that the test is time-independent.
        claims["exp"] = json!(now() + 1800);
        sign_rs256(A_PRIVATE, None, &claims)
    })
}

/// Strings that look somewhat like JWTs: three or so segments of base64url
/// characters, with occasional junk.
fn jwt_like() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_\\-=+/.!]{0,40}", 1..5).prop_map(|parts| parts.join("."))
}

/// Arbitrary JSON-ish headers and payloads, properly encoded, so the parser
/// gets past base64 and into JSON and claim handling.
fn encoded_json_token() -> impl Strategy<Value = String> {
    let json_text = prop_oneof![
        Just(r#"{"alg":"RS256"}"#.to_owned()),
        Just(r#"{"alg":"ES256","kid":"x"}"#.to_owned()),
        Just(r#"{"alg":"none"}"#.to_owned()),
        Just(r#"{"alg":"HS256"}"#.to_owned()),
        "\\PC{0,60}",
        "\\{\"[a-z]{1,5}\":[0-9\"a-z\\[\\]{},:.e+-]{0,30}\\}",
    ];
    (
        json_text.clone(),
        json_text,
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, p, sig)| format!("{}.{}.{}", b64(h), b64(p), b64(sig)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic_or_pass(s in "\\PC{0,200}") {
        prop_assert!(shared().verify(&s).is_err());
        let _ = bearer_token(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_pass(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&bytes);
        prop_assert!(shared().verify(&s).is_err());
    }

    #[test]
    fn jwt_like_strings_never_panic_or_pass(s in jwt_like()) {
        prop_assert!(shared().verify(&s).is_err());
        let _ = bearer_token(&format!("Bearer {s}"));
    }

    #[test]
    fn encoded_json_never_panics_or_passes(s in encoded_json_token()) {
        prop_assert!(shared().verify(&s).is_err());
    }
}

proptest! {
    // Each case costs an RSA verification; fewer cases keep the debug-build
    // run short while still touching every position class many times.
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn single_char_changes_are_rejected(index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_\\-.=]") {
        let token = valid_token();
        prop_assert!(shared().verify(token).is_ok());
        let i = index.index(token.len());
        let replacement = replacement.chars().next().unwrap();
        prop_assume!(token.as_bytes()[i] != replacement as u8);
        let mut mutated = token.to_owned();
        mutated.replace_range(i..=i, &replacement.to_string());
        prop_assert!(shared().verify(&mutated).is_err(), "accepted mutation at {}", i);
    }
}
