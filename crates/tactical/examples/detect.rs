//! Stand-in for `deconflict detect` until the CLI wires `detect_command`:
//! `cargo run --release -p tactical --example detect -- SCENARIO.csv
//! --mode bluesky|default --pairs-out PAIRS.csv [--los-out LOS.csv]
//! [--lookahead 300] [--minima 5nm,1000ft]`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use tactical::engine::Mode;
use tactical::{detect_command, DetectArgs};

fn main() -> anyhow::Result<()> {
    let mut scenario = None;
    let (mut mode, mut pairs_out, mut los_out, mut lookahead, mut minima) =
        (Mode::Default, None, None, 300.0, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--mode" => mode = value()?.parse().map_err(anyhow::Error::msg)?,
            "--pairs-out" => pairs_out = Some(PathBuf::from(value()?)),
            "--los-out" => los_out = Some(PathBuf::from(value()?)),
            "--lookahead" => lookahead = value()?.parse()?,
            "--minima" => minima = Some(value()?.parse().map_err(anyhow::Error::msg)?),
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => scenario = Some(PathBuf::from(s)),
        }
    }
    let mut d = DetectArgs::new(
        scenario.context("missing SCENARIO.csv")?,
        mode,
        pairs_out.context("missing --pairs-out")?,
    );
    d.los_out = los_out;
    d.lookahead_s = lookahead;
    if let Some(m) = minima {
        d.minima = m;
    }
    eprintln!("{}", detect_command(&d)?);
    Ok(())
}
