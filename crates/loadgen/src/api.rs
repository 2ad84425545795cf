//! The few DSS calls the workload makes, over keep-alive connections.

use crate::http1;
use crate::workload::Volume;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const OIR: &str = "/dss/v1/operational_intent_references";
const OIR_QUERY: &str = "/dss/v1/operational_intent_references/query";

/// What a non-manager sees instead of an OVN (the reference DSS's wording).
pub const HIDDEN_OVN: &str = "Available from USS";

/// The two parties the workload speaks for. Two, so that queries see intents
/// of another party (OVN hidden) as well as their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Alpha,
    Bravo,
}

impl Party {
    pub const ALL: [Party; 2] = [Party::Alpha, Party::Bravo];

    pub fn of(n: u64) -> Party {
        Party::ALL[(n % 2) as usize]
    }

    pub fn name(self) -> &'static str {
        match self {
            Party::Alpha => "alpha",
            Party::Bravo => "bravo",
        }
    }

    fn base_url(self) -> &'static str {
        match self {
            Party::Alpha => "https://alpha.uss.example/utm",
            Party::Bravo => "https://bravo.uss.example/utm",
        }
    }
}

/// The parties' `Authorization` headers; replaceable because development
/// tokens live at most an hour and a 1M preload can take longer.
pub struct Tokens {
    headers: [RwLock<Arc<str>>; 2],
}

fn bearer(token: &str) -> anyhow::Result<Arc<str>> {
    let token = token.trim();
    // A header value is visible ASCII; a token with a line break in it would
    // smuggle a header into every request.
    anyhow::ensure!(
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()),
        "a token is non-empty printable ASCII without spaces"
    );
    Ok(format!("Bearer {token}").into())
}

impl Tokens {
    pub fn new(alpha: &str, bravo: &str) -> anyhow::Result<Tokens> {
        Ok(Tokens {
            headers: [RwLock::new(bearer(alpha)?), RwLock::new(bearer(bravo)?)],
        })
    }

    fn slot(&self, p: Party) -> &RwLock<Arc<str>> {
        &self.headers[p as usize]
    }

    pub fn get(&self, p: Party) -> Arc<str> {
        self.slot(p)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set(&self, p: Party, token: &str) -> anyhow::Result<()> {
        *self.slot(p).write().unwrap_or_else(|e| e.into_inner()) = bearer(token)?;
        Ok(())
    }
}

/// Why an operation did not succeed, as a short label for the error counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpError {
    /// An HTTP status other than the one expected.
    Status(u16),
    /// Connection refused or reset, timeout, …
    Transport(String),
    /// The answer was not the JSON expected.
    Decode,
    /// The workload's conflict-free placements are used up.
    Exhausted,
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Status(s) => write!(f, "HTTP {s}"),
            OpError::Transport(e) => write!(f, "transport: {e}"),
            OpError::Decode => write!(f, "undecodable response"),
            OpError::Exhausted => write!(f, "no conflict-free placement left"),
        }
    }
}

fn transport(e: http1::Error) -> OpError {
    OpError::Transport(e.kind().to_string())
}

/// An intent the workload created and may have to delete.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: uuid::Uuid,
    pub ovn: String,
    pub party: Party,
}

#[derive(Serialize)]
struct NewSubscription {
    uss_base_url: &'static str,
    notify_for_constraints: bool,
}

#[derive(Serialize)]
struct PutIntent<'a> {
    extents: [&'a Volume; 1],
    key: &'a [String],
    state: &'static str,
    uss_base_url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_subscription: Option<NewSubscription>,
}

#[derive(Serialize)]
struct Query<'a> {
    area_of_interest: &'a Volume,
}

// Responses are decoded only as far as the workload needs, borrowing from
// the body (OVNs are base64url, so `Cow` never has to allocate).

#[derive(Deserialize)]
struct RefOut<'a> {
    #[serde(borrow)]
    ovn: Cow<'a, str>,
}

#[derive(Deserialize)]
struct PutOut<'a> {
    #[serde(borrow)]
    operational_intent_reference: RefOut<'a>,
}

#[derive(Deserialize)]
struct QueryOut<'a> {
    #[serde(borrow)]
    operational_intent_references: Vec<RefOut<'a>>,
}

/// What a query found.
#[derive(Debug, Default)]
pub struct Found {
    pub count: usize,
    /// OVNs the caller can see: those of its own intents.
    pub own_ovns: Vec<String>,
}

fn found(out: QueryOut<'_>) -> Found {
    Found {
        count: out.operational_intent_references.len(),
        own_ovns: out
            .operational_intent_references
            .into_iter()
            .filter(|r| r.ovn != HIDDEN_OVN)
            .map(|r| r.ovn.into_owned())
            .collect(),
    }
}

pub struct Dss {
    http: http1::Client,
    pub tokens: Tokens,
    /// Ask for an implicit subscription with every intent, as a USS that wants
    /// to hear about later changes in its area does.
    pub implicit_subscription: bool,
}

impl Dss {
    pub async fn new(
        base: &str,
        tokens: Tokens,
        implicit_subscription: bool,
    ) -> anyhow::Result<Dss> {
        // Keep-alive: every client task reuses a connection, as a USS would.
        let http = http1::Client::new(base, Duration::from_secs(60)).await?;
        Ok(Dss {
            http,
            tokens,
            implicit_subscription,
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        party: Party,
        body: Option<Vec<u8>>,
        expect: u16,
    ) -> Result<Vec<u8>, OpError> {
        let auth = self.tokens.get(party);
        let resp = self
            .http
            .request(method, path, Some(&auth), body.as_deref())
            .await
            .map_err(transport)?;
        if resp.status != expect {
            return Err(OpError::Status(resp.status));
        }
        Ok(resp.body)
    }

    /// PUT a new Accepted intent made of `volume`, naming `key`.
    pub async fn create(
        &self,
        volume: &Volume,
        key: Vec<String>,
        party: Party,
    ) -> Result<Created, OpError> {
        let id = uuid::Uuid::new_v4();
        let body = PutIntent {
            extents: [volume],
            key: &key,
            state: "Accepted",
            uss_base_url: party.base_url(),
            new_subscription: self.implicit_subscription.then(|| NewSubscription {
                uss_base_url: party.base_url(),
                notify_for_constraints: false,
            }),
        };
        let bytes = self
            .send(
                "PUT",
                &format!("{OIR}/{id}"),
                party,
                Some(encode(&body)),
                201,
            )
            .await?;
        let out: PutOut = serde_json::from_slice(&bytes).map_err(|_| OpError::Decode)?;
        Ok(Created {
            id,
            ovn: out.operational_intent_reference.ovn.into_owned(),
            party,
        })
    }

    /// POST …/query for the area.
    pub async fn query(&self, area: &Volume, party: Party) -> Result<Found, OpError> {
        let body = encode(&Query {
            area_of_interest: area,
        });
        let bytes = self.send("POST", OIR_QUERY, party, Some(body), 200).await?;
        let out: QueryOut = serde_json::from_slice(&bytes).map_err(|_| OpError::Decode)?;
        Ok(found(out))
    }

    pub async fn delete(&self, c: &Created) -> Result<(), OpError> {
        self.send(
            "DELETE",
            &format!("{OIR}/{}/{}", c.id, c.ovn),
            c.party,
            None,
            200,
        )
        .await
        .map(drop)
    }

    /// GET /healthy answers 200.
    pub async fn healthy(&self) -> bool {
        healthy(&self.http).await
    }

    /// The service's own count of stored operational intents (its
    /// `dss_operational_intents` gauge on /metrics).
    pub async fn stored_intents(&self) -> Option<u64> {
        let resp = self
            .http
            .request("GET", "/metrics", None, None)
            .await
            .ok()?;
        if resp.status != 200 {
            return None;
        }
        parse_gauge(
            std::str::from_utf8(&resp.body).ok()?,
            "dss_operational_intents",
        )
    }
}

/// GET /healthy answers 200.
pub async fn healthy(http: &http1::Client) -> bool {
    matches!(http.request("GET", "/healthy", None, None).await, Ok(r) if r.status == 200)
}

fn encode(body: &impl Serialize) -> Vec<u8> {
    // Plain structs of strings and numbers: serialization cannot fail.
    serde_json::to_vec(body).expect("request bodies serialize")
}

/// The value of an unlabelled gauge in Prometheus text format.
pub fn parse_gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse::<f64>().ok())?
        })
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::workload::{LatLng, Shape};
    use chrono::{TimeDelta, Utc};

    #[test]
    fn request_bodies_decode_as_the_service_decodes_them() {
        let now = Utc::now();
        let v = Volume {
            shape: Shape::Circle {
                center: LatLng {
                    lat: 46.5,
                    lng: 7.5,
                },
                radius_m: 35.0,
            },
            altitude_m: (0.0, 120.0),
            start: now,
            end: now + TimeDelta::minutes(8),
        };
        let key = vec!["ovn1".to_string()];
        let body = encode(&PutIntent {
            extents: [&v],
            key: &key,
            state: "Accepted",
            uss_base_url: Party::Bravo.base_url(),
            new_subscription: Some(NewSubscription {
                uss_base_url: Party::Bravo.base_url(),
                notify_for_constraints: false,
            }),
        });
        let put: server::wire::PutIntentIn = serde_json::from_slice(&body).unwrap();
        assert_eq!(put.extents.len(), 1);
        assert_eq!(put.key, Some(key));
        assert_eq!(put.state, "Accepted");
        assert!(put.new_subscription.is_some());
        server::wire::volume4d(&put.extents[0], "extents[0]").unwrap();

        let body = encode(&Query {
            area_of_interest: &v,
        });
        let q: server::wire::QueryIn = serde_json::from_slice(&body).unwrap();
        server::wire::volume4d(&q.area_of_interest.unwrap(), "area_of_interest").unwrap();
    }

    #[test]
    fn own_ovns_are_picked_from_a_query_answer() {
        let body = br#"{"operational_intent_references": [
            {"id": "a", "ovn": "Available from USS", "version": 1},
            {"id": "b", "ovn": "c2VjcmV0", "version": 2}]}"#;
        let f = found(serde_json::from_slice(body).unwrap());
        assert_eq!(f.count, 2);
        assert_eq!(f.own_ovns, vec!["c2VjcmV0"]);
    }

    #[test]
    fn gauge_from_prometheus_text() {
        let text = "# HELP x\n# TYPE dss_operational_intents gauge\n\
                    dss_operational_intents_other 5\ndss_operational_intents 1001000\n";
        assert_eq!(
            parse_gauge(text, "dss_operational_intents"),
            Some(1_001_000)
        );
        assert_eq!(parse_gauge(text, "missing"), None);
    }
}
