//! Shared helpers for the integration tests. Tokens are minted with the
//! independent `jsonwebtoken` crate (or by hand for malicious shapes), so
//! the tests check interoperability, not self-consistency.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth::{Verifier, VerifierConfig};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const INTERUSS_PUBLIC: &str = "interuss-test-public-key.pem";
pub const INTERUSS_PRIVATE: &str = "interuss-noauth-test-private-key.pem";
pub const A_PRIVATE: &str = "test-only-rsa-a-private.pem";
pub const A_PUBLIC: &str = "test-only-rsa-a-public.pem";
pub const B_PRIVATE: &str = "test-only-rsa-b-private.pem";
pub const B_PUBLIC: &str = "test-only-rsa-b-public.pem";

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims exactly as the InterUSS `NoAuth` adapter mints them: no `iat`,
/// `nbf` = now - 1, `exp` = now + 3600, `iss` = "NoAuth".
pub fn noauth_claims(sub: &str, aud: &str, scopes: &[&str]) -> Value {
    let t = now();
    json!({
        "sub": sub,
        "client_id": sub,
        "scope": scopes.join(" "),
        "aud": aud,
        "nbf": t - 1,
        "exp": t + 3600,
        "iss": "NoAuth",
        "jti": "0f3c2b8e-5d0a-4c55-9d3e-2f1b7a6c9e11",
    })
}

/// RS256 token signed with the PEM private key in tests/data/`key_file`,
/// header `{"typ":"JWT","alg":"RS256"}` plus `kid` if given.
pub fn sign_rs256(key_file: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(read(key_file).as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A token with an arbitrary header JSON and signature bytes.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(serde_json::to_vec(header).unwrap()),
        b64(serde_json::to_vec(claims).unwrap()),
        b64(signature)
    )
}

pub fn config(key_files: &[&str], audiences: &[&str]) -> VerifierConfig {
    VerifierConfig {
        public_key_files: key_files.iter().map(|f| data(f)).collect(),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        ..VerifierConfig::default()
    }
}

pub async fn verifier(key_files: &[&str]) -> Verifier {
    Verifier::new(config(key_files, &["localhost", "127.0.0.1"]))
        .await
        .unwrap()
}

/// The RSA public key in tests/data/`public_file` as a JWK.
pub fn rsa_jwk(public_file: &str, kid: Option<&str>) -> Value {
    let key = rsa::RsaPublicKey::from_public_key_pem(&read(public_file)).unwrap();
    let mut jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "n": b64(key.n().to_bytes_be()),
        "e": b64(key.e().to_bytes_be()),
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

/// A P-256 public key PEM as a JWK.
pub fn ec_jwk(public_pem: &str, kid: &str) -> Value {
    let key = p256::PublicKey::from_public_key_pem(public_pem).unwrap();
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
    json!({
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "kid": kid,
        "x": b64(point.x().unwrap()),
        "y": b64(point.y().unwrap()),
    })
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (random port) serving one
/// document at any path, whose body and status the test can change, and
/// which counts requests.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    state: Arc<ServerState>,
}

struct ServerState {
    body: Mutex<String>,
    status: AtomicU16,
    hits: AtomicUsize,
}

impl JwksServer {
    pub async fn start(body: String) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(ServerState {
            body: Mutex::new(body),
            status: AtomicU16::new(200),
            hits: AtomicUsize::new(0),
        });
        let server_state = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&server_state);
                tokio::spawn(async move {
                    let _ = serve_one(&mut stream, &state).await;
                });
            }
        });
        JwksServer { url, state }
    }

    pub fn set_body(&self, body: String) {
        *self.state.body.lock().unwrap() = body;
    }

    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Waits until the request count reaches `n` (panics after 10 s).
    pub async fn wait_for_hits(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.hits() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "JWKS server saw {} requests, expected {n}",
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve_one(stream: &mut tokio::net::TcpStream, state: &ServerState) -> std::io::Result<()> {
    // Read the request head (requests from reqwest GET have no body).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    state.hits.fetch_add(1, Ordering::SeqCst);
    let status = state.status.load(Ordering::SeqCst);
    let body = state.body.lock().unwrap().clone();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// Compile-time check helper.
pub fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
