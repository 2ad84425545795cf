//! Stand-in for `deconflict replay` until the CLI wires `replay_command`:
//! `cargo run --release -p tactical --example replay -- FILE.csv[.gz]
//! --report OUT.csv|OUT.json [--minima 5nm,1000ft] [--vertical-tolerance FT]
//! [--speed X] [--max-extrapolation S] [--track-timeout S]`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tactical::{replay_command, ReplayArgs};

fn main() -> anyhow::Result<()> {
    let mut file = None;
    let mut report = None;
    let mut rest: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a.starts_with("--") {
            let v = args.next().with_context(|| format!("{a} needs a value"))?;
            if a == "--report" {
                report = Some(PathBuf::from(v));
            } else {
                rest.push((a, v));
            }
        } else {
            file = Some(PathBuf::from(a));
        }
    }
    let mut r = ReplayArgs::new(
        file.context("missing FILE")?,
        report.context("missing --report")?,
    );
    for (k, v) in rest {
        match k.as_str() {
            "--minima" => r.minima = v.parse().map_err(anyhow::Error::msg)?,
            "--vertical-tolerance" => r.vertical_tolerance_ft = v.parse()?,
            "--speed" => r.speed = Some(v.parse()?),
            "--max-extrapolation" => r.max_extrapolation_s = v.parse()?,
            "--track-timeout" => r.track_timeout_s = v.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    eprintln!("{}", replay_command(&r)?);
    Ok(())
}
