//! The service under test as a child process, and what /proc says about it.

use anyhow::{bail, Context};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The scope every DSS call of this workload needs.
pub const SCOPE: &str = "utm.strategic_coordination";

/// A `deconflict serve` started by us in development mode, on a free loopback
/// port, with its own data folder. Killed when dropped, so a failed run never
/// leaves a server behind.
pub struct Managed {
    child: Child,
    bin: PathBuf,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Managed {
    /// Starts the binary and waits until `GET /healthy` answers.
    /// `data_dir: None` uses a fresh temporary folder, removed on drop.
    pub async fn start(
        bin: &Path,
        data_dir: Option<PathBuf>,
        extra: &[String],
    ) -> anyhow::Result<Managed> {
        if !bin.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p cli` (or pass --bin)",
                bin.display()
            );
        }
        let (tmp, data_dir) = match data_dir {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                (None, d)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("loadgen-")
                    .tempdir()
                    .context("creating a temporary data folder")?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log = data_dir.join("server.log");
        let child = Command::new(bin)
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(&data_dir)
            // The load is the point: no per-party limit, no notice policy noise.
            .args(["--rate-limit-per-s", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut m = Managed {
            child,
            bin: bin.to_path_buf(),
            url: format!("http://{listen}"),
            data_dir,
            log,
            _tmp: tmp,
        };
        m.wait_healthy(Duration::from_secs(60)).await?;
        Ok(m)
    }

    async fn wait_healthy(&mut self, within: Duration) -> anyhow::Result<()> {
        let http = crate::http1::Client::new(&self.url, Duration::from_secs(2)).await?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it became healthy; see {}",
                    self.log.display()
                );
            }
            if crate::api::healthy(&http).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server was not healthy within {within:?}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What mints tokens for this server (also from another thread, later).
    pub fn minter(&self) -> Minter {
        Minter {
            bin: self.bin.clone(),
            data_dir: self.data_dir.clone(),
        }
    }

    /// SIGTERM (graceful: the store is flushed), then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Keeps the data folder after the run (it is otherwise removed).
    pub fn keep_data(&mut self) {
        if let Some(t) = self._tmp.take() {
            let _ = t.keep();
        }
    }
}

/// Mints development tokens with the server's key, by running the binary
/// itself exactly as the README tells users to.
#[derive(Debug, Clone)]
pub struct Minter {
    bin: PathBuf,
    data_dir: PathBuf,
}

impl Minter {
    /// A token for `sub` with the strategic-coordination scope, valid an hour
    /// (the longest the service accepts).
    pub fn mint(&self, sub: &str) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .args(["token", "--sub", sub, "--scope", SCOPE, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .context("running `deconflict token`")?;
        if !out.status.success() {
            bail!(
                "`deconflict token` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident and peak resident memory of a process, in KiB (/proc/PID/status).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// CPU time (user + system, all threads) a process has used so far.
/// `None` for a process we cannot see.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    parse_cpu_ticks(&stat).map(ticks_to_duration)
}

/// CPU time the whole machine spent busy so far (all CPUs: user, nice,
/// system, irq, softirq, steal from /proc/stat). Minus the server's and our
/// own, it shows whether something else was competing for the cores.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some(ticks_to_duration(busy))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line. The command
/// name (field 2) may contain spaces and parentheses, so count from the last ')'.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The machine, as BENCHMARKS.md reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        memory_gib: mem_kib / 1024.0 / 1024.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat_with_a_strange_command_name() {
        let line = "4242 (dec onflict) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 56 0 0 20 0 9 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(line), Some(1234 + 56));
        assert!(cpu_time(None).is_some());
        assert!(machine_busy().is_some());
        assert!(memory(std::process::id()).is_some());
    }
}
