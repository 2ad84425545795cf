//! `loadgen`: measures the deconflict DSS API end to end, over real HTTP on
//! loopback, as USSs would load it.
//!
//! - [`workload`]: where intents and queries go (conflict-free by construction).
//! - [`api`]: the DSS calls, over keep-alive connections.
//! - [`http1`]: the lean HTTP/1.1 client they use.
//! - [`runner`]: closed-loop concurrent clients, timed or counted.
//! - [`stats`]: exact latency percentiles.
//! - [`process`]: the service as a child process; RSS and CPU from /proc.
//! - [`report`]: markdown and JSON output.
//!
//! The binary (`src/main.rs`) strings them together; see its `--help`.

pub mod api;
pub mod http1;
pub mod process;
pub mod report;
pub mod runner;
pub mod stats;
pub mod workload;
