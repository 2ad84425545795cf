//! Recorded traffic in the CSV format of `shared/data/` (plain or gzip):
//! `timestamp,flight_id,icao24,callsign,lat_deg,lon_deg,alt_ft,gs_kt,track_deg,vrate_fpm`.
//!
//! A malformed row is counted and skipped, never fatal: recordings are
//! messy and one bad line must not lose a day of traffic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};
use chrono::DateTime;

/// One position report, in the file's units except time (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    pub time_s: i64,
    /// Index into [`Recording::flights`].
    pub flight: u32,
    pub lat_deg: f64,
    pub lon_deg: f64,
    pub alt_ft: f64,
    pub gs_kt: f64,
    pub track_deg: f64,
    /// Empty in a few rows of real data.
    pub vrate_fpm: Option<f64>,
}

/// A flight: its id and airframe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flight {
    pub id: String,
    pub icao24: String,
}

/// A whole recording, reports sorted by time (stable: ties keep file order).
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub flights: Vec<Flight>,
    pub reports: Vec<Report>,
    /// Data rows that could not be used (wrong field count, bad number,
    /// bad time, position out of range), with the first few reasons.
    pub malformed: usize,
    pub malformed_examples: Vec<String>,
}

const HEADER: [&str; 10] = [
    "timestamp",
    "flight_id",
    "icao24",
    "callsign",
    "lat_deg",
    "lon_deg",
    "alt_ft",
    "gs_kt",
    "track_deg",
    "vrate_fpm",
];

impl Recording {
    /// Opens a `.csv` or `.csv.gz` file (gzip is recognised by its magic
    /// bytes, not the name).
    pub fn open(path: &Path) -> anyhow::Result<Recording> {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut magic = [0u8; 2];
        let n = file.read(&mut magic)?;
        let file = File::open(path)?;
        let reader: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
            Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        Recording::read(reader).with_context(|| format!("reading {}", path.display()))
    }

    /// Reads the CSV. Only an unreadable stream or a wrong header is an error.
    pub fn read(reader: impl BufRead) -> anyhow::Result<Recording> {
        let mut lines = reader.lines();
        let header = lines.next().context("empty recording")??;
        let cols: Vec<&str> = header.trim_end().split(',').collect();
        if cols != HEADER {
            bail!("header is {header:?}, expected {:?}", HEADER.join(","));
        }
        let mut rec = Recording::default();
        let mut index: HashMap<String, u32> = HashMap::new();
        for (n, line) in lines.enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match parse_row(line.trim_end()) {
                Ok((time_s, id, icao, v)) => {
                    let flight = match index.get(id) {
                        Some(&f) => f,
                        None => {
                            let f = rec.flights.len() as u32;
                            rec.flights.push(Flight {
                                id: id.to_string(),
                                icao24: icao.to_string(),
                            });
                            index.insert(id.to_string(), f);
                            f
                        }
                    };
                    rec.reports.push(Report {
                        time_s,
                        flight,
                        lat_deg: v[0],
                        lon_deg: v[1],
                        alt_ft: v[2],
                        gs_kt: v[3],
                        track_deg: v[4],
                        vrate_fpm: v[5].is_finite().then_some(v[5]),
                    });
                }
                Err(why) => {
                    rec.malformed += 1;
                    if rec.malformed_examples.len() < 5 {
                        rec.malformed_examples
                            .push(format!("line {}: {why}", n + 2));
                    }
                }
            }
        }
        rec.reports.sort_by_key(|r| r.time_s);
        Ok(rec)
    }
}

/// (time, flight id, icao24, [lat, lon, alt, gs, track, vrate or NaN]).
fn parse_row(line: &str) -> Result<(i64, &str, &str, [f64; 6]), String> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != HEADER.len() {
        return Err(format!("{} fields, expected {}", f.len(), HEADER.len()));
    }
    let time = DateTime::parse_from_rfc3339(f[0])
        .map_err(|e| format!("timestamp {:?}: {e}", f[0]))?
        .timestamp();
    if f[1].is_empty() {
        return Err("empty flight_id".into());
    }
    let mut v = [f64::NAN; 6];
    for (k, slot) in v.iter_mut().enumerate() {
        let cell = f[k + 4];
        if k == 5 && cell.is_empty() {
            continue;
        }
        let x: f64 = cell
            .parse()
            .map_err(|_| format!("{}: {cell:?} is not a number", HEADER[k + 4]))?;
        if !x.is_finite() {
            return Err(format!("{}: {cell:?} is not finite", HEADER[k + 4]));
        }
        *slot = x;
    }
    if !(-90.0..=90.0).contains(&v[0]) || !(-180.0..=360.0).contains(&v[1]) {
        return Err(format!("position {}, {} out of range", v[0], v[1]));
    }
    if v[3] < 0.0 {
        return Err(format!("negative ground speed {}", v[3]));
    }
    Ok((time, f[1], f[2], v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rows_are_counted_not_fatal() {
        let text = "timestamp,flight_id,icao24,callsign,lat_deg,lon_deg,alt_ft,gs_kt,track_deg,vrate_fpm\n\
            2018-08-01T05:00:10Z,F1,abc,C1,46.0,7.0,35000,450.0,90.0,\n\
            2018-08-01T05:00:00Z,F2,def,C2,46.1,7.1,36000,450.0,270.0,0\n\
            garbage\n\
            2018-08-01T05:00:20Z,F1,abc,C1,x,7.0,35000,450.0,90.0,0\n\
            2018-13-01T05:00:20Z,F1,abc,C1,46.0,7.0,35000,450.0,90.0,0\n\
            2018-08-01T05:00:20Z,F1,abc,C1,95.0,7.0,35000,450.0,90.0,0\n\
            2018-08-01T05:00:20Z,F1,abc,C1,46.0,7.0,35000,450.0,90.0,0\n";
        let rec = Recording::read(text.as_bytes()).unwrap();
        assert_eq!(rec.malformed, 4);
        assert_eq!(rec.reports.len(), 3);
        assert_eq!(rec.flights.len(), 2);
        // Sorted by time, so F2's earlier report comes first.
        assert_eq!(rec.reports[0].flight, 1);
        assert_eq!(rec.reports[1].vrate_fpm, None);
        assert!(rec.malformed_examples[0].starts_with("line 4"));
    }

    #[test]
    fn wrong_header_is_an_error() {
        assert!(Recording::read("a,b\n".as_bytes()).is_err());
    }
}
