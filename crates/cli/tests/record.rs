//! The record through the real binary and the real CLI: write responses
//! name their entry, checkpoints are signed, `deconflict verify` checks
//! inclusion and consistency from the server and from an export, and
//! tampering with stored entries is detected.

mod common;

use common::{bin, intent_body, new_id, volume, Server, SC};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn declare(s: &Server, token: &str, lat: f64) -> u64 {
    let resp = s
        .http
        .put(format!(
            "{}/dss/v1/operational_intent_references/{}",
            s.base,
            new_id()
        ))
        .bearer_auth(token)
        .json(&intent_body(vec![volume(lat, 7.0, 0.01, 120, 180)], vec![]))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.headers()["x-log-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn key(s: &Server, token: &str) -> String {
    s.http
        .get(format!("{}/v1/log/key", s.base))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap()
        .trim()
        .to_string()
}

/// Waits until the signed checkpoint covers at least `size` entries.
fn wait_signed(s: &Server, token: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let note = s
            .http
            .get(format!("{}/v1/log/checkpoint", s.base))
            .bearer_auth(token)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let signed: u64 = note.lines().nth(1).unwrap().parse().unwrap();
        if signed >= size {
            return note;
        }
        assert!(Instant::now() < deadline, "no checkpoint of {size} entries");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verify(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn start(dir: &Path) -> Server {
    Server::start_in(dir, &["--checkpoint-interval-s", "0.1"])
}

#[test]
fn the_record_is_verified_from_the_server_and_from_an_export_and_tampering_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = start(dir);
    let alpha = s.token("alpha", &[SC]);
    let bravo = s.token("bravo", &[SC]);
    let vkey = key(&s, &alpha);
    let (st, _) = s.call("GET", "/v1/log/key", None, None);
    assert_eq!(
        st, 401,
        "the record is the parties' evidence: token required"
    );
    assert!(vkey.starts_with("deconflict.local/record+"), "{vkey}");

    let i1 = declare(&s, &alpha, 46.0);
    let i2 = declare(&s, &bravo, 46.5);
    assert!(i2 > i1);
    let note = wait_signed(&s, &alpha, i2 + 1);

    // Entries are read by every party; the standard shows an OVN only to
    // its manager, so the record holds OVNs only as their SHA-256.
    let (_, q) = s.call(
        "POST",
        "/dss/v1/operational_intent_references/query",
        Some(&alpha),
        Some(&serde_json::json!({"area_of_interest": volume(46.0, 7.0, 0.02, 120, 180)})),
    );
    let ovn = q["operational_intent_references"][0]["ovn"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = s.call("GET", "/v1/log/entries?start=0", Some(&bravo), None);
    let mut hashed = 0;
    for e in v["entries"].as_array().unwrap() {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["data"].as_str().unwrap())
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains(&ovn), "an OVN in the record: {text}");
        hashed += text.matches("ovn_sha256").count();
    }
    assert!(hashed >= 2, "changes of intents show their OVN hashed");
    let saved = dir.join("saved.note");
    std::fs::write(&saved, &note).unwrap();

    // The entries of both writes are in the signed record.
    let (ok, text) = verify(&[
        "--key",
        &vkey,
        "--server",
        &s.base,
        "--token",
        &alpha,
        "--entry",
        &i1.to_string(),
        "--entry",
        &i2.to_string(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("entry {i1}: included")), "{text}");

    // More writes; the new checkpoint extends the saved one.
    let i3 = declare(&s, &alpha, 47.0);
    wait_signed(&s, &alpha, i3 + 1);
    let (ok, text) = verify(&[
        "--key",
        &vkey,
        "--server",
        &s.base,
        "--token",
        &alpha,
        "--checkpoint",
        saved.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("consistency"), "{text}");

    // A wrong key fails the signature check.
    let other = "other+01020304+AfakekeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (ok, _) = verify(&["--key", other, "--server", &s.base, "--token", &alpha]);
    assert!(!ok);

    // Export alpha's entries with proofs, verify the file offline.
    let export = dir.join("alpha.json");
    // `deconflict export` of alpha's entries to `out`, with `extra` options.
    let export_to = |out: &std::path::Path, extra: &[&std::ffi::OsStr]| {
        let done = Command::new(bin())
            .args([
                "export", "--party", "alpha", "--server", &s.base, "--token", &alpha,
            ])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    };
    export_to(&export, &[]);
    let ex: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    let indices: Vec<u64> = ex["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert!(indices.contains(&i1) && indices.contains(&i3) && !indices.contains(&i2));
    let (ok, text) = verify(&["--key", &vkey, "--file", export.to_str().unwrap()]);
    assert!(ok, "{text}");

    // Against a checkpoint alpha saved earlier, the file alone must prove
    // that the record only grew since: an export without that proof fails,
    // one made `--since` the saved checkpoint passes offline, and a proof
    // altered in the file is caught.
    let with_saved = |file: &std::path::Path| {
        verify(&[
            "--key",
            &vkey,
            "--file",
            file.to_str().unwrap(),
            "--checkpoint",
            saved.to_str().unwrap(),
        ])
    };
    let (ok, text) = with_saved(&export);
    assert!(!ok, "{text}");
    assert!(text.contains("no consistency proof"), "{text}");
    let since = dir.join("alpha-since.json");
    export_to(&since, &["--since".as_ref(), saved.as_os_str()]);
    let (ok, text) = with_saved(&since);
    assert!(ok, "{text}");
    assert!(text.contains("consistency"), "{text}");
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&since).unwrap()).unwrap();
    let hashes = forged["consistency"]["hashes"].as_array_mut().unwrap();
    assert!(!hashes.is_empty(), "{forged}");
    hashes[0] = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let forgedf = dir.join("forged.json");
    std::fs::write(&forgedf, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (ok, text) = with_saved(&forgedf);
    assert!(!ok, "{text}");
    assert!(text.contains("not an extension"), "{text}");

    // An altered entry in the export is caught.
    let mut bad = ex.clone();
    let e0 = bad["entries"][0]["data"].as_str().unwrap().to_string();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(&e0).unwrap();
    let pos = bytes.iter().position(|&b| b == b'a').unwrap();
    bytes[pos] = b'b';
    bad["entries"][0]["data"] = b64.encode(&bytes).into();
    let badf = dir.join("bad.json");
    std::fs::write(&badf, serde_json::to_vec(&bad).unwrap()).unwrap();
    let (ok, text) = verify(&["--key", &vkey, "--file", badf.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(text.contains("not in the signed record"), "{text}");

    let final_note = wait_signed(&s, &alpha, i3 + 1);
    let saved2 = dir.join("saved2.note");
    std::fs::write(&saved2, &final_note).unwrap();
    s.stop();

    // Tampering with the stored record behind the service's back.
    let db = dir.join("deconflict.db");
    let sql = |q: &str| {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(q).unwrap();
    };
    let check_after = |what: &str| {
        let s = start(dir);
        let t = s.token("alpha", &[SC]);
        let (ok, text) = verify(&[
            "--key",
            &vkey,
            "--server",
            &s.base,
            "--token",
            &t,
            "--checkpoint",
            saved2.to_str().unwrap(),
        ]);
        s.stop();
        assert!(!ok, "{what} was not detected: {text}");
    };
    let backup = std::fs::read(&db).unwrap();
    // (a) one entry altered;
    sql(&format!(
        "UPDATE log SET entry = CAST(replace(CAST(entry AS TEXT), 'alpha', 'omega') AS BLOB) WHERE idx = {i1}"
    ));
    check_after("an altered entry");
    // (b) two entries swapped;
    std::fs::write(&db, &backup).unwrap();
    let _ = std::fs::remove_file(dir.join("deconflict.db-wal"));
    sql(&format!(
        "UPDATE log SET idx = -1 WHERE idx = {i1}; UPDATE log SET idx = {i1} WHERE idx = {}; UPDATE log SET idx = {} WHERE idx = -1;",
        i1 + 1,
        i1 + 1
    ));
    check_after("two swapped entries");
    // (c) one entry deleted: the service refuses to start on a record with a gap.
    std::fs::write(&db, &backup).unwrap();
    sql(&format!("DELETE FROM log WHERE idx = {i1}"));
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gap"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
