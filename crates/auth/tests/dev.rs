//! Development key: creation, persistence, minting, and verification.

mod common;

use std::time::Duration;

use auth::dev::{DevKey, DevKeyError, DEV_ISSUER, DEV_KEY_FILE_NAME};
use auth::{AuthError, Verifier, VerifierConfig};
use common::*;
use serde_json::Value;

async fn dev_verifier(dev: &DevKey) -> Verifier {
    Verifier::new(VerifierConfig {
        // The conformance key next to the dev key, as the server would run.
        public_key_files: vec![data(INTERUSS_PUBLIC)],
        extra_public_keys_pem: vec![dev.public_key_pem()],
        audiences: vec!["localhost".into()],
        ..VerifierConfig::default()
    })
    .await
    .unwrap()
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn es256_dev_key_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let dev = DevKey::load_or_create(&data_dir).unwrap();
    let path = data_dir.join(DEV_KEY_FILE_NAME);
    assert_eq!(dev.path(), path);

    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dev
        .public_key_pem()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(dev.key_id().len(), 16);
    assert!(!format!("{dev:?}").contains("PRIVATE"));

    let scopes = vec![
        auth::scopes::STRATEGIC_COORDINATION.to_owned(),
        auth::scopes::CONSTRAINT_MANAGEMENT.to_owned(),
    ];
    let token = dev.mint("alice", &scopes, "localhost", Duration::from_secs(900));

    let header = decode_part(&token, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], dev.key_id());
    let claims = decode_part(&token, 1);
    for name in [
        "sub",
        "client_id",
        "scope",
        "aud",
        "iss",
        "iat",
        "nbf",
        "exp",
        "jti",
    ] {
        assert!(claims.get(name).is_some(), "{name} missing in {claims}");
    }
    assert_eq!(
        claims["scope"],
        "utm.strategic_coordination utm.constraint_management"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let v = dev_verifier(&dev).await;
    let c = v.verify(&token).unwrap();
    assert_eq!(c.sub, "alice");
    assert_eq!(c.client_id.as_deref(), Some("alice"));
    assert_eq!(c.issuer.as_deref(), Some(DEV_ISSUER));
    assert!(c.has_scope(auth::scopes::CONSTRAINT_MANAGEMENT));
    assert_eq!(c.scopes.len(), 2);

    // Two mints differ (jti), and both verify.
    let again = dev.mint("alice", &scopes, "localhost", Duration::from_secs(900));
    assert_ne!(token, again);
    assert!(v.verify(&again).is_ok());

    // An independent implementation accepts the signature encoding too.
    let key = jsonwebtoken::DecodingKey::from_ec_pem(dev.public_key_pem().as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["localhost"]);
    let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(decoded.claims["sub"], "alice");
}

#[tokio::test]
async fn dev_key_persists_across_loads() {
    let dir = tempfile::tempdir().unwrap();
    let first = DevKey::load_or_create(dir.path()).unwrap();
    let token = first.mint("bob", &[], "localhost", Duration::from_secs(60));
    let second = DevKey::load_or_create(dir.path()).unwrap();
    assert_eq!(first.key_id(), second.key_id());
    assert_eq!(first.public_key_pem(), second.public_key_pem());
    // A token from before the "restart" verifies against the reloaded key.
    assert!(dev_verifier(&second).await.verify(&token).is_ok());
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [DEV_KEY_FILE_NAME]);
}

#[test]
fn concurrent_creation_yields_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    DevKey::load_or_create(dir.path())
                        .unwrap()
                        .key_id()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

#[tokio::test]
async fn dev_tokens_obey_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevKey::load_or_create(dir.path()).unwrap();
    let v = dev_verifier(&dev).await;
    // Longer than the 1 h cap.
    let long = dev.mint("carol", &[], "localhost", Duration::from_secs(7200));
    assert_eq!(
        v.verify(&long),
        Err(AuthError::LifetimeTooLong { max_seconds: 3600 })
    );
    // Wrong audience.
    let other_aud = dev.mint("carol", &[], "example.com", Duration::from_secs(60));
    assert!(matches!(
        v.verify(&other_aud),
        Err(AuthError::WrongAudience(_))
    ));
    // Empty subject.
    let no_sub = dev.mint("", &[], "localhost", Duration::from_secs(60));
    assert_eq!(v.verify(&no_sub), Err(AuthError::MissingSubject));
    // A verifier that does not trust the dev key refuses its tokens.
    let ok = dev.mint("carol", &[], "localhost", Duration::from_secs(60));
    let strict = verifier(&[INTERUSS_PUBLIC]).await;
    assert_eq!(
        strict.verify(&ok),
        Err(AuthError::UnknownKeyId(dev.key_id().to_owned()))
    );
    // Another dev key (another data dir) is not accepted either.
    let other_dir = tempfile::tempdir().unwrap();
    let other = DevKey::load_or_create(other_dir.path()).unwrap();
    let foreign = other.mint("carol", &[], "localhost", Duration::from_secs(60));
    assert!(matches!(
        v.verify(&foreign),
        Err(AuthError::UnknownKeyId(_))
    ));
}

#[test]
fn corrupt_dev_key_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DEV_KEY_FILE_NAME);
    std::fs::write(&path, "not a key").unwrap();
    let err = DevKey::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, DevKeyError::InvalidKey { .. }));
    assert!(err.to_string().contains(DEV_KEY_FILE_NAME), "{err}");
    // An RSA key is not a P-256 key.
    std::fs::write(&path, read(A_PRIVATE)).unwrap();
    assert!(matches!(
        DevKey::load_or_create(dir.path()),
        Err(DevKeyError::InvalidKey { .. })
    ));
}

#[test]
fn unusable_data_dir_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = DevKey::load_or_create(&file.join("sub")).unwrap_err();
    assert!(matches!(err, DevKeyError::Io { .. }), "{err}");
}
