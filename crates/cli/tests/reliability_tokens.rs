//! Hostile tokens and hostile parties, black-box against the real binary.
//!
//! `crates/auth/tests` checks the verifier as a library (every rejection
//! reason, key formats, JWKS refresh). These tests check the same attacks
//! end to end: the binary started with `--public-key` of a key generated
//! here (or `--jwks-url` of a tiny JWKS server run here) answers 401 to each
//! forged or invalid token on reads and writes, and a rejected write leaves
//! nothing behind. The last test checks ownership: a party with every scope
//! can never change or delete another party's intent, constraint or
//! subscription, even when it knows their OVN or version.

mod common;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const AUD: &str = "dss.example";
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// An identity provider's ES256 key pair, generated for this test in `dir`.
struct Idp {
    private_pem: String,
    public_pem: String,
}

impl Idp {
    fn generate(dir: &Path) -> Idp {
        // DevKey::load_or_create generates a fresh PKCS#8 P-256 key in `dir`.
        let key = auth::dev::DevKey::load_or_create(dir).unwrap();
        Idp {
            private_pem: std::fs::read_to_string(key.path()).unwrap(),
            public_pem: key.public_key_pem(),
        }
    }

    fn sign_with(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(
            &h,
            claims,
            &EncodingKey::from_ec_pem(self.private_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(None, claims)
    }

    /// The public key as a JWK (P-256: the SPKI ends with 04 ‖ x ‖ y).
    fn jwk(&self, kid: &str) -> Value {
        let body: String = self
            .public_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        let point = &der[der.len() - 65..];
        assert_eq!(point[0], 4, "uncompressed point");
        json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
               "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..])})
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: &str) -> Value {
    let t = now();
    json!({"sub": sub, "scope": format!("{SC} {CM} {CP}"), "aud": AUD, "iss": "idp",
           "iat": t, "nbf": t - 1, "exp": t + 600, "client_id": sub})
}

fn with(mut c: Value, field: &str, v: Value) -> Value {
    c[field] = v;
    c
}

fn without(mut c: Value, field: &str) -> Value {
    c.as_object_mut().unwrap().remove(field);
    c
}

fn unsigned(header: Value, claims: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        B64URL.encode(serde_json::to_vec(&header).unwrap()),
        B64URL.encode(serde_json::to_vec(claims).unwrap())
    )
}

/// Every endpoint kind a token opens: a read, a create and a query. Each
/// must answer 401 to `token`, and the create must leave nothing behind.
fn assert_refused(s: &Server, good: &str, name: &str, token: &str) {
    let id = new_id();
    let path = format!("/dss/v1/operational_intent_references/{id}");
    let body = intent_body(vec![volume(46.0, 7.0, 0.001, 120, 180)], vec![]);
    let (st, v) = s.call("PUT", &path, Some(token), Some(&body));
    assert_eq!(st, 401, "{name}: PUT answered {st} {v}");
    let (st, v) = s.call("GET", &path, Some(token), None);
    assert_eq!(st, 401, "{name}: GET answered {st} {v}");
    let q = json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 600)});
    let (st, v) = s.call(
        "POST",
        "/dss/v1/operational_intent_references/query",
        Some(token),
        Some(&q),
    );
    assert_eq!(st, 401, "{name}: query answered {st} {v}");
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/constraint_references/{id}"),
        Some(token),
        Some(&json!({"extents": [volume(46.0, 7.0, 0.001, 120, 180)],
                     "uss_base_url": "https://uss.example/x"})),
    );
    assert_eq!(st, 401, "{name}: constraint PUT answered {st} {v}");
    // The refused create left nothing.
    let (st, v) = s.call("GET", &path, Some(good), None);
    assert_eq!(st, 404, "{name}: a refused write left {v}");
}

fn serve_with_key(dir: &Path, idp: &Idp) -> Server {
    let key = dir.join("idp-public.pem");
    std::fs::write(&key, &idp.public_pem).unwrap();
    Server::start_in(
        dir,
        &[
            "--public-key",
            key.to_str().unwrap(),
            "--audiences",
            AUD,
            "--rate-limit-per-s",
            "0",
        ],
    )
}

#[test]
fn forged_expired_and_misaddressed_tokens_get_401() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Idp::generate(&tmp.path().join("idp"));
    let other = Idp::generate(&tmp.path().join("other"));
    let s = serve_with_key(tmp.path(), &idp);

    // The control: a token of the configured key is accepted, so every 401
    // below is about what was changed.
    let good = idp.sign(&claims("alpha"));
    let id = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("/dss/v1/operational_intent_references/{id}"),
        Some(&good),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.001, 120, 180)],
            vec![],
        )),
    );
    assert_eq!(st, 201, "the control token must work: {v}");

    let t = now();
    let c = claims("alpha");
    let good_sig = good.rsplit('.').next().unwrap().to_string();
    let public_der = {
        let body: String = idp
            .public_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    let hs = |alg: Algorithm, secret: &[u8]| {
        jsonwebtoken::encode(&Header::new(alg), &c, &EncodingKey::from_secret(secret)).unwrap()
    };
    // A valid token whose payload is swapped for another party's: the
    // signature no longer matches.
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            B64URL.encode(serde_json::to_vec(&claims("mallory")).unwrap()),
            parts[2]
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("signed by another key", other.sign(&claims("alpha"))),
        ("payload changed after signing", tampered),
        (
            "signature of another token",
            format!(
                "{}.{}",
                good.rsplit_once('.').unwrap().0,
                other.sign(&claims("alpha")).rsplit('.').next().unwrap()
            ),
        ),
        (
            "expired",
            idp.sign(&with(
                with(c.clone(), "exp", json!(t - 600)),
                "nbf",
                json!(t - 1200),
            )),
        ),
        ("without exp", idp.sign(&without(c.clone(), "exp"))),
        (
            "nbf in the future",
            idp.sign(&with(
                with(c.clone(), "nbf", json!(t + 600)),
                "exp",
                json!(t + 1200),
            )),
        ),
        (
            "wrong audience",
            idp.sign(&with(c.clone(), "aud", json!("other.example"))),
        ),
        (
            "audience list without ours",
            idp.sign(&with(c.clone(), "aud", json!(["a.example", "b.example"]))),
        ),
        ("without audience", idp.sign(&without(c.clone(), "aud"))),
        ("without sub", idp.sign(&without(c.clone(), "sub"))),
        ("empty sub", idp.sign(&with(c.clone(), "sub", json!("")))),
        (
            "alg none, unsigned",
            unsigned(json!({"typ": "JWT", "alg": "none"}), &c, ""),
        ),
        (
            "alg None with a valid signature attached",
            unsigned(json!({"typ": "JWT", "alg": "None"}), &c, &good_sig),
        ),
        (
            "HS256 with the public key PEM as secret",
            hs(Algorithm::HS256, idp.public_pem.as_bytes()),
        ),
        (
            "HS256 with the trimmed public key PEM as secret",
            hs(Algorithm::HS256, idp.public_pem.trim().as_bytes()),
        ),
        (
            "HS256 with the public key DER as secret",
            hs(Algorithm::HS256, &public_der),
        ),
        (
            "HS512 with the public key PEM as secret",
            hs(Algorithm::HS512, idp.public_pem.as_bytes()),
        ),
        (
            "a development token of the data folder",
            s.token("alpha", &[SC]),
        ),
        ("not a JWT", "not-a-token".to_string()),
        ("two parts", good.rsplit_once('.').unwrap().0.to_string()),
        ("empty", String::new()),
    ];
    for (name, token) in &cases {
        assert_refused(&s, &good, name, token);
    }

    // Not a bearer token at all.
    for header in ["Basic YWxwaGE6cGFzcw==", "Bearer", "bearer", ""] {
        let resp = s
            .http
            .post(format!(
                "{}/dss/v1/operational_intent_references/query",
                s.base
            ))
            .header("authorization", header)
            .json(&json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 600)}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "Authorization: {header:?}");
    }

    // The control still works after all that, and the intent is untouched.
    let (st, v) = s.call(
        "GET",
        &format!("/dss/v1/operational_intent_references/{id}"),
        Some(&good),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["operational_intent_reference"]["version"], 1);
    s.stop();
}

/// A JWKS endpoint on 127.0.0.1 serving one document, counting requests.
fn jwks_server(doc: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            // Read the request head (GET, no body).
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                doc.len(),
                doc
            );
        }
    });
    (url, hits)
}

#[test]
fn a_jwks_key_id_that_is_unknown_gets_401() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Idp::generate(&tmp.path().join("idp"));
    let other = Idp::generate(&tmp.path().join("other"));
    let doc = json!({"keys": [idp.jwk("idp-2025")]}).to_string();
    let (url, hits) = jwks_server(doc);
    let s = Server::start_in(
        tmp.path(),
        &[
            "--jwks-url",
            &url,
            "--audiences",
            AUD,
            "--rate-limit-per-s",
            "0",
        ],
    );
    assert!(hits.load(Ordering::SeqCst) >= 1, "the JWKS was not fetched");
    let good = idp.sign_with(Some("idp-2025"), &claims("alpha"));
    let q = json!({"area_of_interest": volume(46.0, 7.0, 0.01, 0, 600)});
    let (st, v) = s.call(
        "POST",
        "/dss/v1/operational_intent_references/query",
        Some(&good),
        Some(&q),
    );
    assert_eq!(st, 200, "the control token must work: {v}");

    let cases = [
        (
            "unknown kid, signed by the JWKS key",
            idp.sign_with(Some("idp-2026"), &claims("alpha")),
        ),
        (
            "unknown kid, signed by another key",
            other.sign_with(Some("forged"), &claims("alpha")),
        ),
        (
            "known kid, signed by another key",
            other.sign_with(Some("idp-2025"), &claims("alpha")),
        ),
        (
            "no kid, signed by another key",
            other.sign(&claims("alpha")),
        ),
        (
            "known kid, alg none",
            unsigned(
                json!({"typ": "JWT", "alg": "none", "kid": "idp-2025"}),
                &claims("alpha"),
                "",
            ),
        ),
    ];
    for (name, token) in &cases {
        assert_refused(&s, &good, name, token);
    }
    s.stop();
}

fn created(st: u16, v: &Value, what: &str) {
    assert!(st == 200 || st == 201, "{what}: {st} {v}");
}

#[test]
fn a_party_never_changes_or_deletes_another_partys_entities() {
    let s = Server::start();
    let all = [SC, CM, CP];
    let alpha = s.token("alpha", &all);
    let bravo = s.token("bravo", &all);
    let intents = "/dss/v1/operational_intent_references";
    let constraints = "/dss/v1/constraint_references";
    let subs = "/dss/v1/subscriptions";

    // Alpha's entities.
    let oi = new_id();
    let (st, v) = s.call(
        "PUT",
        &format!("{intents}/{oi}"),
        Some(&alpha),
        Some(&intent_body(
            vec![volume(46.0, 7.0, 0.001, 120, 180)],
            vec![],
        )),
    );
    created(st, &v, "alpha's intent");
    let oi_ovn = v["operational_intent_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    let oi_sub = v["operational_intent_reference"]["subscription_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cr = new_id();
    let constraint_body = |lat: f64| {
        json!({"extents": [volume(lat, 7.0, 0.001, 120, 180)],
               "uss_base_url": "https://uss.example/alpha"})
    };
    let (st, v) = s.call(
        "PUT",
        &format!("{constraints}/{cr}"),
        Some(&alpha),
        Some(&constraint_body(46.1)),
    );
    created(st, &v, "alpha's constraint");
    let cr_ovn = v["constraint_reference"]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    let sb = new_id();
    let sub_body = |lat: f64| {
        json!({"extents": volume(lat, 7.0, 0.01, 0, 180),
               "uss_base_url": "https://uss.example/alpha",
               "notify_for_operational_intents": true, "notify_for_constraints": true})
    };
    let (st, v) = s.call(
        "PUT",
        &format!("{subs}/{sb}"),
        Some(&alpha),
        Some(&sub_body(46.2)),
    );
    created(st, &v, "alpha's subscription");
    let sb_version = v["subscription"]["version"].as_str().unwrap().to_string();

    // Bravo, with every scope and even with the versions (say alpha leaked
    // them), changes nothing.
    let mut bravo_intent = intent_body(vec![volume(46.3, 7.0, 0.001, 120, 180)], vec![]);
    bravo_intent["uss_base_url"] = json!("https://uss.example/bravo");
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PUT",
            format!("{intents}/{oi}/{oi_ovn}"),
            Some(bravo_intent.clone()),
        ),
        ("PUT", format!("{intents}/{oi}"), Some(bravo_intent.clone())),
        ("DELETE", format!("{intents}/{oi}/{oi_ovn}"), None),
        (
            "PUT",
            format!("{constraints}/{cr}/{cr_ovn}"),
            Some(constraint_body(46.3)),
        ),
        (
            "PUT",
            format!("{constraints}/{cr}"),
            Some(constraint_body(46.3)),
        ),
        ("DELETE", format!("{constraints}/{cr}/{cr_ovn}"), None),
        (
            "PUT",
            format!("{subs}/{sb}/{sb_version}"),
            Some(sub_body(46.3)),
        ),
        ("PUT", format!("{subs}/{sb}"), Some(sub_body(46.3))),
        ("DELETE", format!("{subs}/{sb}/{sb_version}"), None),
        // Alpha's implicit subscription too.
        ("DELETE", format!("{subs}/{oi_sub}/x"), None),
    ];
    for (method, path, body) in &attempts {
        let (st, v) = s.call(method, path, Some(&bravo), body.as_ref());
        // A create (no version in the path) over an existing id may also be
        // refused as a conflict: the id is taken, whoever holds it. (The
        // service answers 403 for intents and constraints, 409 for
        // subscriptions.) What matters is that nothing changes; checked below.
        let create = method == &"PUT" && path.matches('/').count() == 4;
        assert!(
            st == 403 || (create && st == 409),
            "bravo {method} {path}: {st} {v}"
        );
    }
    // Relying on alpha's subscription for bravo's own intent is refused too.
    let mut b = bravo_intent.clone();
    b.as_object_mut().unwrap().remove("new_subscription");
    b["subscription_id"] = json!(sb);
    b["extents"] = json!([volume(46.2, 7.0, 0.001, 120, 180)]);
    let (st, v) = s.call(
        "PUT",
        &format!("{intents}/{}", new_id()),
        Some(&bravo),
        Some(&b),
    );
    assert_eq!(st, 403, "bravo relying on alpha's subscription: {st} {v}");
    // Bravo does not see alpha's OVNs, nor its subscription.
    let (st, v) = s.call("GET", &format!("{intents}/{oi}"), Some(&bravo), None);
    assert_eq!(st, 200, "{v}");
    assert_ne!(v["operational_intent_reference"]["ovn"], oi_ovn.as_str());
    let (st, v) = s.call("GET", &format!("{constraints}/{cr}"), Some(&bravo), None);
    assert_eq!(st, 200, "{v}");
    assert_ne!(v["constraint_reference"]["ovn"], cr_ovn.as_str());
    let (st, v) = s.call("GET", &format!("{subs}/{sb}"), Some(&bravo), None);
    assert!(
        st == 403 || st == 404,
        "bravo reads alpha's subscription: {st} {v}"
    );

    // Everything of alpha's is as it was, and alpha can still change it.
    let (st, v) = s.call("GET", &format!("{intents}/{oi}"), Some(&alpha), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["operational_intent_reference"]["ovn"], oi_ovn.as_str());
    assert_eq!(v["operational_intent_reference"]["manager"], "alpha");
    let (st, v) = s.call("GET", &format!("{constraints}/{cr}"), Some(&alpha), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["constraint_reference"]["ovn"], cr_ovn.as_str());
    let (st, v) = s.call("GET", &format!("{subs}/{sb}"), Some(&alpha), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subscription"]["version"], sb_version.as_str());
    let (st, v) = s.call("GET", &format!("{subs}/{oi_sub}"), Some(&alpha), None);
    assert_eq!(st, 200, "alpha's implicit subscription: {v}");
    let (st, v) = s.call(
        "DELETE",
        &format!("{intents}/{oi}/{oi_ovn}"),
        Some(&alpha),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call(
        "DELETE",
        &format!("{constraints}/{cr}/{cr_ovn}"),
        Some(&alpha),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call(
        "DELETE",
        &format!("{subs}/{sb}/{sb_version}"),
        Some(&alpha),
        None,
    );
    assert_eq!(st, 200, "{v}");
    s.stop();
}
