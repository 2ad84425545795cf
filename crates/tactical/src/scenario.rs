//! The file formats of `shared/bluesky/README.md` (scenario, pairs, LoS) and
//! a scenario generator with the same distribution as `cd_baseline.py`'s
//! (not the same numbers: that one draws from numpy's PCG64), so benchmarks
//! at any N need no Python.

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use anyhow::{bail, Context};

use crate::engine::PairResult;
use crate::geometry::Kinematics;
use crate::units::{FPM, FT, KT};

pub const SCENARIO_HEADER: &str = "id,lat_deg,lon_deg,alt_m,gs_east_mps,gs_north_mps,vs_mps";

/// Aircraft ids and states, aligned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    pub ids: Vec<String>,
    pub states: Vec<Kinematics>,
}

impl Scenario {
    /// Reads a scenario CSV. Every row must have seven fields and finite
    /// numbers; the error names the line and the column.
    pub fn read(reader: impl BufRead) -> anyhow::Result<Scenario> {
        let mut lines = reader.lines();
        let header = lines.next().context("empty scenario file")??;
        if header.trim_end() != SCENARIO_HEADER {
            bail!("scenario header is {header:?}, expected {SCENARIO_HEADER:?}");
        }
        let names: Vec<&str> = SCENARIO_HEADER.split(',').collect();
        let mut sc = Scenario::default();
        for (n, line) in lines.enumerate() {
            let line = line?;
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            let lineno = n + 2;
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != names.len() {
                bail!(
                    "line {lineno}: {} fields, expected {}",
                    fields.len(),
                    names.len()
                );
            }
            let mut v = [0.0f64; 6];
            for (k, slot) in v.iter_mut().enumerate() {
                let x: f64 = fields[k + 1].parse().with_context(|| {
                    format!(
                        "line {lineno}: {}: {:?} is not a number",
                        names[k + 1],
                        fields[k + 1]
                    )
                })?;
                if !x.is_finite() {
                    bail!("line {lineno}: {}: {x} is not finite", names[k + 1]);
                }
                *slot = x;
            }
            if !(-90.0..=90.0).contains(&v[0]) {
                bail!("line {lineno}: lat_deg {} outside [-90, 90]", v[0]);
            }
            sc.ids.push(fields[0].to_string());
            sc.states.push(Kinematics {
                lat_deg: v[0],
                lon_deg: v[1],
                alt_m: v[2],
                east_mps: v[3],
                north_mps: v[4],
                vs_mps: v[5],
            });
        }
        Ok(sc)
    }

    pub fn write(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(w, "{SCENARIO_HEADER}")?;
        for (id, k) in self.ids.iter().zip(&self.states) {
            writeln!(
                w,
                "{id},{:?},{:?},{:?},{:?},{:?},{:?}",
                k.lat_deg, k.lon_deg, k.alt_m, k.east_mps, k.north_mps, k.vs_mps
            )?;
        }
        Ok(())
    }

    /// `cd_baseline.py`'s distribution: a 600 km square around 35°N 38°E,
    /// 70 % level on FL100–FL400 in steps of FL10, the rest at a uniform
    /// altitude in that band climbing or descending at 500–3000 fpm, ground
    /// speed 200–500 kt, track uniform. Deterministic in (n, seed).
    pub fn generate(n: usize, seed: u64) -> Scenario {
        const RE: f64 = 6_371_000.0;
        let (lat0, lon0, half) = (35.0f64, 38.0f64, 300_000.0);
        let mut rng = SplitMix64(seed);
        let width = 5.max((n.saturating_sub(1)).to_string().len());
        let mut sc = Scenario::default();
        for k in 0..n {
            let x = rng.uniform(-half, half);
            let y = rng.uniform(-half, half);
            let level = rng.unit() < 0.7;
            let fl = (10 + (rng.unit() * 31.0) as u32).min(40) * 10;
            let alt_free = rng.uniform(100.0 * 100.0 * FT, 400.0 * 100.0 * FT);
            let sign = if rng.unit() < 0.5 { -1.0 } else { 1.0 };
            let vs_mag = rng.uniform(500.0, 3000.0) * FPM;
            let gs = rng.uniform(200.0, 500.0) * KT;
            let trk = rng.uniform(0.0, 360.0).to_radians();
            sc.ids.push(format!("AC{k:0width$}"));
            sc.states.push(Kinematics {
                lat_deg: lat0 + (y / RE).to_degrees(),
                lon_deg: lon0 + (x / (RE * lat0.to_radians().cos())).to_degrees(),
                alt_m: if level {
                    f64::from(fl) * 100.0 * FT
                } else {
                    alt_free
                },
                east_mps: gs * trk.sin(),
                north_mps: gs * trk.cos(),
                vs_mps: if level { 0.0 } else { sign * vs_mag },
            });
        }
        sc
    }
}

/// SplitMix64: a tiny, well-distributed generator; a scenario needs no
/// cryptographic or statistical-suite quality, only determinism.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Writes the pairs CSV (`id1,id2,tcpa_s,dcpa_m,tin_s,tout_s`) of the
/// conflicting pairs, sorted by (id1, id2) bytewise. Default-mode pairs are
/// unordered; `both_directions` writes each one as (a,b) and (b,a) so the
/// file compares with BlueSky's directed files.
pub fn pairs_csv(ids: &[String], pairs: &[PairResult], both_directions: bool) -> String {
    let mut rows: Vec<(&str, &str, &PairResult)> = Vec::new();
    for p in pairs.iter().filter(|p| p.geometry.conflict) {
        rows.push((&ids[p.i as usize], &ids[p.j as usize], p));
        if both_directions {
            rows.push((&ids[p.j as usize], &ids[p.i as usize], p));
        }
    }
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut out = String::from("id1,id2,tcpa_s,dcpa_m,tin_s,tout_s\n");
    for (a, b, p) in rows {
        let g = &p.geometry;
        let _ = writeln!(
            out,
            "{a},{b},{:?},{:?},{:?},{:?}",
            g.tcpa_s, g.dcpa_m, g.tin_s, g.tout_s
        );
    }
    out
}

/// Writes the LoS CSV (`id1,id2`), sorted, directed as [`pairs_csv`].
pub fn los_csv(ids: &[String], pairs: &[PairResult], both_directions: bool) -> String {
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for p in pairs.iter().filter(|p| p.geometry.los) {
        rows.push((&ids[p.i as usize], &ids[p.j as usize]));
        if both_directions {
            rows.push((&ids[p.j as usize], &ids[p.i as usize]));
        }
    }
    rows.sort_unstable();
    let mut out = String::from("id1,id2\n");
    for (a, b) in rows {
        let _ = writeln!(out, "{a},{b}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_scenario_round_trips_bit_exactly() {
        let sc = Scenario::generate(500, 7);
        let mut buf = Vec::new();
        sc.write(&mut buf).unwrap();
        let back = Scenario::read(&buf[..]).unwrap();
        assert_eq!(back, sc);
        let level = sc.states.iter().filter(|k| k.vs_mps == 0.0).count();
        assert!((300..400).contains(&level), "{level} level of 500");
    }

    #[test]
    fn bad_scenario_rows_name_line_and_column() {
        let text = format!("{SCENARIO_HEADER}\nA,1,2,3,4,5,6\nB,1,x,3,4,5,6\n");
        let err = Scenario::read(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("lon_deg"), "{err}");
        let text = format!("{SCENARIO_HEADER}\nA,1,2,3\n");
        assert!(Scenario::read(text.as_bytes()).is_err());
        assert!(Scenario::read("id,lat\n".as_bytes()).is_err());
    }
}
