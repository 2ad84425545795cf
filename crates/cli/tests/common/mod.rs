//! Black-box harness: starts the real `deconflict` binary on a free port with
//! its own data folder and talks HTTP to it, as a client would.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod pg;

pub const SC: &str = "utm.strategic_coordination";
pub const CM: &str = "utm.constraint_management";
pub const CP: &str = "utm.constraint_processing";
pub const CMSA: &str = "utm.conformance_monitoring_sa";
pub const AA: &str = "utm.availability_arbitration";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_deconflict")
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::blocking::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// A server in development mode with a fresh data folder.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, &[]);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(data_dir.join(format!("server-{port}.log"))).unwrap();
        let child = Command::new(bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn deconflict");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let s = Server {
            child,
            base,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = s.http.get(format!("{}/healthy", s.base)).send() {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// Mints a development token with the CLI, as the README shows.
    pub fn token(&self, sub: &str, scopes: &[&str]) -> String {
        let mut cmd = Command::new(bin());
        cmd.args(["token", "--sub", sub, "--data-dir"])
            .arg(&self.data_dir);
        for s in scopes {
            cmd.args(["--scope", s]);
        }
        let out = cmd.output().expect("run deconflict token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub fn raw(&self, method: &str, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{}", self.base, path),
            )
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub fn stop(mut self) {
        // SIGTERM for a graceful stop; fall back to kill.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A Volume4D around (lat, lng): a square of `half` degrees, 0–120 m W84,
/// from `start_min` to `end_min` minutes from now.
pub fn volume(lat: f64, lng: f64, half: f64, start_min: i64, end_min: i64) -> Value {
    let now = chrono::Utc::now();
    json!({
        "volume": {
            "outline_polygon": {"vertices": [
                {"lat": lat - half, "lng": lng - half},
                {"lat": lat - half, "lng": lng + half},
                {"lat": lat + half, "lng": lng + half},
                {"lat": lat + half, "lng": lng - half}
            ]},
            "altitude_lower": {"value": 0, "reference": "W84", "units": "M"},
            "altitude_upper": {"value": 120, "reference": "W84", "units": "M"}
        },
        "time_start": {"value": iso(now + chrono::Duration::minutes(start_min)), "format": "RFC3339"},
        "time_end": {"value": iso(now + chrono::Duration::minutes(end_min)), "format": "RFC3339"}
    })
}

pub fn intent_body(extents: Vec<Value>, key: Vec<String>) -> Value {
    json!({
        "extents": extents,
        "key": key,
        "state": "Accepted",
        "uss_base_url": "https://uss.example/alpha",
        "new_subscription": {"uss_base_url": "https://uss.example/alpha", "notify_for_constraints": false}
    })
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Polls `ok` every 100 ms until it holds; fails the test after 20 s.
pub fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first event of `kind` on the party's stream (`GET /v1/events` from
/// the start), its data parsed; fails the test after 20 s without one.
pub fn first_event_of_kind(s: &Server, token: &str, kind: &str) -> Value {
    use std::io::{BufRead, BufReader};
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/v1/events", s.base))
        .bearer_auth(token)
        .send()
        .unwrap();
    let mut event = String::new();
    for line in BufReader::new(resp).lines() {
        let Ok(line) = line else { break };
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            if event == kind {
                return serde_json::from_str(v.trim()).unwrap();
            }
        }
    }
    panic!("no {kind} event");
}
