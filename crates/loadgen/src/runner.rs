//! Load from C client tasks over keep-alive connections, in one of two ways:
//!
//! - closed loop: each client sends its next request as soon as the previous
//!   one is answered, so the service runs flat out and the figures say how
//!   much it can do (and what latency that costs);
//! - open loop at a given rate: operation n is due at n / rate seconds, and
//!   the next free client starts it then. Latency counts from when it was due
//!   if no client was free (the queueing a real caller would see: no
//!   coordinated omission), from when it was sent otherwise (so the timer's
//!   millisecond granularity is not charged to the service). C is then the
//!   most operations in flight at once.
//!
//! Latency is measured per operation from just before the request is built to
//! just after the whole response body is read. For a timed run, operations
//! *started* during the warm-up are not recorded (connections are being opened
//! and caches warmed); those started in the measured window are recorded even
//! if they finish after it, and the throughput divides them by the time from
//! the start of the window to the last of them finishing, so a slow tail is not
//! dropped from either figure.

use crate::api::{Created, Dss, OpError, Party};
use crate::process;
use crate::stats::Samples;
use crate::workload::Layout;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where preloaded intents go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The busy area every scenario works in.
    Busy,
    /// The large region around it that holds the bulk of the intents.
    Region,
}

/// What each client does in a loop.
#[derive(Debug)]
pub enum Work {
    /// Area queries: a random square of `query_m` in the busy area.
    Query,
    /// Creates of new intents in the busy area, each in its own (cell, slot).
    Create,
    /// What a USS does to plan: query the neighbourhood of the planned intent,
    /// then create it naming the OVNs the query showed (its own; others' are
    /// hidden, and disjoint by construction). One operation = both requests.
    QueryThenCreate,
    /// 70 % queries, 15 % creates, 15 % deletes of intents this client made.
    Mixed,
    /// Creates in an area, nothing kept.
    Preload(Area),
    /// Deletes of the given intents.
    Delete(Mutex<Vec<Placed>>),
}

/// An intent a scenario created in the busy area, and the placement it took
/// (handed out again once the intent is deleted).
#[derive(Debug, Clone)]
pub struct Placed {
    pub intent: Created,
    k: u64,
}

/// How long a run lasts.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    Timed { warmup: Duration, measure: Duration },
    Count(u64),
}

/// The shared state of all runs: the service, the layouts and the counters
/// that hand out conflict-free placements (never reused, so no run can
/// collide with an earlier one).
pub struct Ctx {
    pub dss: Dss,
    pub busy: Layout,
    pub region: Layout,
    busy_next: AtomicU64,
    region_next: AtomicU64,
    /// Busy-area placements freed by deletes, reused before new ones: every
    /// scenario deletes what it created, so the busy area never fills up
    /// however fast the service is.
    busy_free: Mutex<Vec<u64>>,
    pub query_m: f64,
    pub server_pid: Option<u32>,
}

impl Ctx {
    pub fn new(
        dss: Dss,
        busy: Layout,
        region: Layout,
        query_m: f64,
        server_pid: Option<u32>,
    ) -> Ctx {
        Ctx {
            dss,
            busy,
            region,
            busy_next: AtomicU64::new(0),
            region_next: AtomicU64::new(0),
            busy_free: Mutex::new(Vec::new()),
            query_m,
            server_pid,
        }
    }

    pub fn placed(&self, area: Area) -> u64 {
        match area {
            Area::Busy => self.busy_next.load(Ordering::Relaxed),
            Area::Region => self.region_next.load(Ordering::Relaxed),
        }
    }

    fn layout(&self, area: Area) -> (&Layout, &AtomicU64) {
        match area {
            Area::Busy => (&self.busy, &self.busy_next),
            Area::Region => (&self.region, &self.region_next),
        }
    }

    fn take_busy(&self) -> u64 {
        let reused = self
            .busy_free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        reused.unwrap_or_else(|| self.busy_next.fetch_add(1, Ordering::Relaxed))
    }

    /// Preloads one intent (not to be deleted).
    async fn preload(&self, area: Area, party: Party) -> Result<(), OpError> {
        let (layout, next) = self.layout(area);
        let k = next.fetch_add(1, Ordering::Relaxed);
        let v = layout.volume(k).ok_or(OpError::Exhausted)?;
        self.dss.create(&v, Vec::new(), party).await.map(drop)
    }

    /// Creates an intent in the busy area. A placement whose create failed is
    /// not reused: the intent may exist all the same (a timeout, say).
    async fn create(&self, party: Party) -> Result<Placed, OpError> {
        let k = self.take_busy();
        let v = self.busy.volume(k).ok_or(OpError::Exhausted)?;
        let intent = self.dss.create(&v, Vec::new(), party).await?;
        Ok(Placed { intent, k })
    }

    async fn delete(&self, p: &Placed) -> Result<(), OpError> {
        self.dss.delete(&p.intent).await?;
        self.busy_free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.k);
        Ok(())
    }

    async fn query_then_create(&self, party: Party) -> Result<(Placed, usize), OpError> {
        let k = self.take_busy();
        let (cell, slot) = self.busy.place(k).ok_or(OpError::Exhausted)?;
        let found = self
            .dss
            .query(&self.busy.neighbourhood(cell, slot), party)
            .await?;
        let created = self
            .dss
            .create(&self.busy.volume_at(cell, slot), found.own_ovns, party)
            .await?;
        Ok((Placed { intent: created, k }, found.count))
    }
}

/// One of the slowest operations of a run: when it started (seconds into the
/// run, and how many operations had started before it), and how long it took.
/// Stalls show up here: a pause of the whole service is one instant at which
/// every client's operation is slow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slow {
    pub at_s: f64,
    pub nth: u64,
    pub ms: f64,
}

/// How many of the slowest operations each kind keeps.
const SLOWEST: usize = 5;

/// Width of a [`Tick`] of the timeline, seconds.
pub const TICK_S: f64 = 0.1;

/// The operations that started in one tenth of a second of a run: how many,
/// and the longest of them. A pause of the service shows as ticks with a
/// long longest; a service that falls behind an open loop, as a run of them
/// that grows and drains.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Tick {
    pub ops: u32,
    pub max_ms: f32,
}

/// Results of one kind of operation.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub samples: Samples,
    pub errors: BTreeMap<String, u64>,
    /// Sum of the intents the queries of this kind returned.
    pub found: u64,
    /// The slowest operations, slowest first.
    pub slowest: Vec<Slow>,
    /// By tick of [`TICK_S`] from the start of the run.
    pub timeline: Vec<Tick>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.samples.merge(o.samples);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.found += o.found;
        for s in o.slowest {
            self.note_slow(s);
        }
        if self.timeline.len() < o.timeline.len() {
            self.timeline.resize(o.timeline.len(), Tick::default());
        }
        for (a, b) in self.timeline.iter_mut().zip(o.timeline) {
            a.ops += b.ops;
            a.max_ms = a.max_ms.max(b.max_ms);
        }
    }

    fn note(&mut self, s: Slow) {
        let i = (s.at_s / TICK_S) as usize;
        if self.timeline.len() <= i {
            self.timeline.resize(i + 1, Tick::default());
        }
        let t = &mut self.timeline[i];
        t.ops += 1;
        t.max_ms = t.max_ms.max(s.ms as f32);
        self.note_slow(s);
    }

    fn note_slow(&mut self, s: Slow) {
        if self.slowest.len() == SLOWEST && self.slowest[SLOWEST - 1].ms >= s.ms {
            return;
        }
        let at = self.slowest.partition_point(|x| x.ms >= s.ms);
        self.slowest.insert(at, s);
        self.slowest.truncate(SLOWEST);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct RunResult {
    /// By operation: "query", "create", "query-then-create", "delete", "preload".
    pub by_op: BTreeMap<&'static str, Tally>,
    /// From the start of the measured window to the last measured completion.
    pub elapsed: Duration,
    /// Intents created (and not deleted) during the run, to clean up.
    pub created: Vec<Placed>,
    /// CPU time the server and this process used during the measured window.
    pub server_cpu: Option<Duration>,
    pub loadgen_cpu: Option<Duration>,
    /// CPU time everything else on the machine used meanwhile (other
    /// processes competing for the cores make the figures worse).
    pub other_cpu: Option<Duration>,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
}

impl RunResult {
    /// All operation kinds together.
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        for v in self.by_op.values() {
            t.merge(v.clone());
        }
        t
    }
}

struct Gate {
    start: Instant,
    measure_from: Instant,
    until: Option<Instant>,
    /// Open loop: seconds between two operations' due times.
    interval_s: Option<f64>,
    left: AtomicI64,
    /// Operations started, to number them.
    started: AtomicU64,
    /// Completed measured operations, for progress reports.
    done: AtomicU64,
    /// Set by a client that gave up (the service is gone): everyone stops.
    abort: AtomicBool,
    abort_reason: Mutex<Option<String>>,
}

impl Gate {
    /// Whether to start another operation, and if so whether to record it,
    /// how many operations started before it and, in an open loop, when it
    /// is due.
    fn next(&self) -> Option<(bool, u64, Option<Instant>)> {
        if self.abort.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(interval_s) = self.interval_s {
            let nth = self.started.fetch_add(1, Ordering::Relaxed);
            let due = self.start + Duration::from_secs_f64(nth as f64 * interval_s);
            if self.until.is_some_and(|until| due >= until) {
                return None;
            }
            return Some((due >= self.measure_from, nth, Some(due)));
        }
        let measured = match self.until {
            Some(until) => {
                let now = Instant::now();
                (now < until).then_some(now >= self.measure_from)
            }
            None => (self.left.fetch_sub(1, Ordering::Relaxed) > 0).then_some(true),
        }?;
        Some((measured, self.started.fetch_add(1, Ordering::Relaxed), None))
    }
}

#[derive(Default)]
struct ClientOut {
    by_op: BTreeMap<&'static str, Tally>,
    created: Vec<Placed>,
    last_done: Option<Instant>,
}

/// A client that sees this many failures in a row stops the run: the service
/// is down or refusing everything, and spinning on it measures nothing.
const MAX_CONSECUTIVE_ERRORS: u32 = 200;

async fn client(
    ctx: Arc<Ctx>,
    work: Arc<Work>,
    gate: Arc<Gate>,
    id: usize,
    seed: u64,
) -> ClientOut {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let party = Party::of(id as u64);
    let mut out = ClientOut::default();
    let mut consecutive_errors = 0;
    while let Some((measured, nth, due)) = gate.next() {
        let start = match due {
            Some(due) if due > Instant::now() => {
                tokio::time::sleep_until(due.into()).await;
                Instant::now()
            }
            Some(late) => late,
            None => Instant::now(),
        };
        // (kind, result: intents found by a query, if any)
        let (kind, result): (&'static str, Result<Option<usize>, OpError>) = match &*work {
            Work::Query => ("query", query(&ctx, &mut rng, party).await),
            Work::Create => ("create", create(&ctx, &mut out, party).await),
            Work::QueryThenCreate => match ctx.query_then_create(party).await {
                Ok((c, found)) => {
                    out.created.push(c);
                    ("query-then-create", Ok(Some(found)))
                }
                Err(e) => ("query-then-create", Err(e)),
            },
            Work::Mixed => {
                // Creates and deletes balance, so the busy area stays as
                // full as it started (flights end as others are planned).
                let r: f64 = rng.gen();
                if r < 0.7 {
                    ("query", query(&ctx, &mut rng, party).await)
                } else if r < 0.85 || out.created.is_empty() {
                    ("create", create(&ctx, &mut out, party).await)
                } else {
                    // Delete one of ours at random (not always the newest).
                    let i = rng.gen_range(0..out.created.len());
                    let c = out.created.swap_remove(i);
                    let r = ctx.delete(&c).await;
                    if r.is_err() {
                        out.created.push(c); // still there: cleaned up later
                    }
                    ("delete", r.map(|()| None))
                }
            }
            Work::Preload(area) => ("preload", ctx.preload(*area, party).await.map(|()| None)),
            Work::Delete(list) => {
                let next = list.lock().unwrap_or_else(|e| e.into_inner()).pop();
                match next {
                    Some(c) => {
                        let r = ctx.delete(&c).await;
                        if r.is_err() {
                            out.created.push(c); // still there: reported as left over
                        }
                        ("delete", r.map(|()| None))
                    }
                    None => break,
                }
            }
        };
        let now = Instant::now();
        let exhausted = result == Err(OpError::Exhausted);
        match &result {
            Ok(_) => consecutive_errors = 0,
            Err(_) => consecutive_errors += 1,
        }
        if measured {
            let t = out.by_op.entry(kind).or_default();
            match &result {
                Ok(found) => {
                    let took = now - start;
                    t.samples.record(took);
                    t.found += found.unwrap_or(0) as u64;
                    t.note(Slow {
                        at_s: (start - gate.start).as_secs_f64(),
                        nth,
                        ms: took.as_secs_f64() * 1000.0,
                    });
                }
                Err(e) => *t.errors.entry(e.to_string()).or_default() += 1,
            }
            out.last_done = Some(out.last_done.map_or(now, |d| d.max(now)));
            gate.done.fetch_add(1, Ordering::Relaxed);
        }
        if exhausted || consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            let why = match &result {
                Err(e) if exhausted => e.to_string(),
                Err(e) => format!("{consecutive_errors} failures in a row, the last: {e}"),
                Ok(_) => unreachable!("only failures stop a client"),
            };
            gate.abort_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(why);
            gate.abort.store(true, Ordering::Relaxed);
            break;
        }
    }
    out
}

async fn query(ctx: &Ctx, rng: &mut StdRng, party: Party) -> Result<Option<usize>, OpError> {
    let area = ctx.busy.random_area(rng, ctx.query_m);
    ctx.dss.query(&area, party).await.map(|f| Some(f.count))
}

async fn create(ctx: &Ctx, out: &mut ClientOut, party: Party) -> Result<Option<usize>, OpError> {
    let c = ctx.create(party).await?;
    out.created.push(c);
    Ok(None)
}

/// CPU time used so far by the server, by this process and by the machine.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: Option<Duration>,
    loadgen: Option<Duration>,
    machine: Option<Duration>,
}

impl Cpu {
    fn now(server: Option<u32>) -> Cpu {
        Cpu {
            server: server.and_then(|p| process::cpu_time(Some(p))),
            loadgen: process::cpu_time(None),
            machine: process::machine_busy(),
        }
    }
}

fn used(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    a.zip(b).map(|(a, b)| b.saturating_sub(a))
}

/// Runs `work` on `clients` concurrent clients until `stop`, flat out or, with
/// `rate` (operations per second), in an open loop. `label` names the run in
/// progress reports (every 10 s on stderr).
pub async fn run(
    ctx: Arc<Ctx>,
    work: Work,
    clients: usize,
    stop: Stop,
    rate: Option<f64>,
    seed: u64,
    label: &str,
) -> RunResult {
    let start = Instant::now();
    let (measure_from, until, left) = match stop {
        Stop::Timed { warmup, measure } => (start + warmup, Some(start + warmup + measure), 0),
        Stop::Count(n) => (start, None, i64::try_from(n).unwrap_or(i64::MAX)),
    };
    let gate = Arc::new(Gate {
        start,
        measure_from,
        until,
        interval_s: rate.filter(|r| *r > 0.0).map(|r| 1.0 / r),
        left: AtomicI64::new(left),
        started: AtomicU64::new(0),
        done: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        abort_reason: Mutex::new(None),
    });
    let work = Arc::new(work);
    let server_pid = ctx.server_pid;

    // CPU use is sampled at the start of the measured window.
    let cpu_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        Cpu::now(server_pid)
    });
    let progress = {
        let gate = gate.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval_at(
                (start + Duration::from_secs(10)).into(),
                Duration::from_secs(10),
            );
            loop {
                tick.tick().await;
                let done = gate.done.load(Ordering::Relaxed);
                eprintln!(
                    "  {label}: {done} done, {:.0}/s over the last 10 s",
                    (done - last) as f64 / 10.0
                );
                last = done;
            }
        })
    };

    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(client(ctx.clone(), work.clone(), gate.clone(), id, seed)))
        .collect();
    let mut result = RunResult::default();
    let mut last_done: Option<Instant> = None;
    for t in tasks {
        // A panicking client is a bug in this program: surface it.
        let out = t.await.expect("client task panicked");
        for (k, v) in out.by_op {
            result.by_op.entry(k).or_default().merge(v);
        }
        result.created.extend(out.created);
        last_done = match (last_done, out.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    progress.abort();
    let end = Cpu::now(server_pid);
    let start = cpu_start.await.unwrap_or_default();
    result.elapsed = last_done.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(measure_from)
    });
    result.server_cpu = used(start.server, end.server);
    result.loadgen_cpu = used(start.loadgen, end.loadgen);
    result.other_cpu = used(start.machine, end.machine).map(|m| {
        m.saturating_sub(result.server_cpu.unwrap_or_default())
            .saturating_sub(result.loadgen_cpu.unwrap_or_default())
    });
    result.aborted = gate
        .abort_reason
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Work::Delete(list) = &*work {
        // Whatever a failed run did not delete is still there: keep it listed.
        result
            .created
            .extend(list.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(interval_s: Option<f64>, warmup_s: f64, measure_s: f64) -> Gate {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(warmup_s);
        Gate {
            start,
            measure_from,
            until: Some(measure_from + Duration::from_secs_f64(measure_s)),
            interval_s,
            left: AtomicI64::new(0),
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            abort_reason: Mutex::new(None),
        }
    }

    #[test]
    fn an_open_loop_hands_out_due_times_at_the_rate_whatever_the_clock() {
        // 1,000/s for 1 s after a 0.5 s warm-up: operations 0..500 are due in
        // the warm-up, 500..1500 are measured, and then the gate closes, all
        // without waiting (the clients do the waiting).
        let g = gate(Some(1e-3), 0.5, 1.0);
        let all: Vec<_> = std::iter::from_fn(|| g.next()).collect();
        assert_eq!(all.len(), 1500);
        for (i, &(measured, nth, due)) in all.iter().enumerate() {
            assert_eq!(nth, i as u64);
            let due = due.expect("open loop: every operation has a due time");
            let offset = (due - g.start).as_secs_f64();
            assert!((offset - i as f64 * 1e-3).abs() < 1e-6, "{i}: {offset}");
            assert_eq!(measured, i >= 500, "{i}");
        }
        g.abort.store(true, Ordering::Relaxed);
        assert!(g.next().is_none());
    }

    #[test]
    fn a_closed_loop_has_no_due_times() {
        let g = gate(None, 0.0, 0.2);
        let (measured, nth, due) = g.next().unwrap();
        assert!(measured);
        assert_eq!((nth, due), (0, None));
    }

    #[test]
    fn the_slowest_operations_are_kept_slowest_first() {
        let mut a = Tally::default();
        for (i, ms) in [3.0, 9.0, 1.0, 7.0, 5.0, 8.0, 2.0].into_iter().enumerate() {
            a.note_slow(Slow {
                at_s: i as f64,
                nth: i as u64,
                ms,
            });
        }
        let kept: Vec<f64> = a.slowest.iter().map(|s| s.ms).collect();
        assert_eq!(kept, vec![9.0, 8.0, 7.0, 5.0, 3.0]);
        let mut b = Tally::default();
        b.note_slow(Slow {
            at_s: 0.5,
            nth: 42,
            ms: 100.0,
        });
        a.merge(b);
        assert_eq!(a.slowest[0].nth, 42);
        assert_eq!(a.slowest.len(), SLOWEST);
        assert_eq!(a.slowest[SLOWEST - 1].ms, 5.0);
    }

    #[test]
    fn the_timeline_counts_operations_and_keeps_the_longest_per_tick() {
        let op = |at_s: f64, ms: f64| Slow { at_s, nth: 0, ms };
        let mut a = Tally::default();
        a.note(op(0.05, 1.0));
        a.note(op(0.06, 4.0));
        a.note(op(0.25, 2.0));
        let mut b = Tally::default();
        b.note(op(0.01, 3.0));
        b.note(op(0.42, 30.0));
        a.merge(b);
        let got: Vec<(u32, f32)> = a.timeline.iter().map(|t| (t.ops, t.max_ms)).collect();
        assert_eq!(got, vec![(3, 4.0), (0, 0.0), (1, 2.0), (0, 0.0), (1, 30.0)]);
        assert_eq!(a.slowest[0].ms, 30.0);
    }
}
