//! Units and separation minima.
//!
//! Inside the crate everything is SI (metres, seconds, m/s). Minima are
//! parsed from the operator's notation (`5nm,1000ft`) at the edge.

use std::fmt;
use std::str::FromStr;

/// One nautical mile in metres (exact by definition).
pub const NM: f64 = 1852.0;
/// One foot in metres (exact by definition).
pub const FT: f64 = 0.3048;
/// One knot in m/s.
pub const KT: f64 = NM / 3600.0;
/// One foot per minute in m/s.
pub const FPM: f64 = FT / 60.0;

/// Horizontal and vertical separation minima. Two aircraft lose separation
/// when they are closer than `horizontal_m` horizontally AND closer than
/// `vertical_m` vertically at the same time (`vertical_m` is the half-height
/// of the protected zone, as in BlueSky and ICAO usage).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Minima {
    pub horizontal_m: f64,
    pub vertical_m: f64,
}

impl Minima {
    /// 5 NM / 1,000 ft, the en-route radar minima.
    pub const EN_ROUTE: Minima = Minima {
        horizontal_m: 5.0 * NM,
        vertical_m: 1000.0 * FT,
    };

    /// The larger of two minima in each dimension: the conservative choice
    /// when two aircraft fall under different rules.
    pub fn max(self, other: Minima) -> Minima {
        Minima {
            horizontal_m: self.horizontal_m.max(other.horizontal_m),
            vertical_m: self.vertical_m.max(other.vertical_m),
        }
    }
}

impl Default for Minima {
    fn default() -> Self {
        Minima::EN_ROUTE
    }
}

impl fmt::Display for Minima {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} NM / {} ft",
            round6(self.horizontal_m / NM),
            round6(self.vertical_m / FT)
        )
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Parses a length such as `5nm`, `1000ft`, `300m`, `2.5km` into metres.
pub fn parse_length(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("length {s:?} has no unit (use nm, km, m or ft)"))?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("length {s:?}: {num:?} is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("length {s:?} must be a finite non-negative number"));
    }
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "nm" => NM,
        "km" => 1000.0,
        "m" => 1.0,
        "ft" => FT,
        other => {
            return Err(format!(
                "length {s:?}: unknown unit {other:?} (use nm, km, m or ft)"
            ))
        }
    };
    Ok(value * factor)
}

impl FromStr for Minima {
    type Err = String;

    /// `HORIZONTAL,VERTICAL`, each a number with a unit: `5nm,1000ft`,
    /// `3nm,1000ft`, `50m,15m`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(',');
        let (Some(h), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "minima {s:?}: expected HORIZONTAL,VERTICAL such as 5nm,1000ft"
            ));
        };
        let horizontal_m = parse_length(h)?;
        let vertical_m = parse_length(v)?;
        if horizontal_m <= 0.0 || vertical_m <= 0.0 {
            return Err(format!("minima {s:?}: both values must be positive"));
        }
        Ok(Minima {
            horizontal_m,
            vertical_m,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minima_in_every_unit() {
        assert_eq!("5nm,1000ft".parse::<Minima>().unwrap(), Minima::EN_ROUTE);
        let m: Minima = " 2.5km , 30m ".parse().unwrap();
        assert_eq!(m.horizontal_m, 2500.0);
        assert_eq!(m.vertical_m, 30.0);
        let m: Minima = "3NM,1000FT".parse().unwrap();
        assert_eq!(m.horizontal_m, 3.0 * 1852.0);
    }

    #[test]
    fn rejects_bad_minima() {
        for bad in [
            "5nm",
            "5,1000ft",
            "5nm,1000ft,3",
            "5mi,1000ft",
            "-1nm,1000ft",
            "0nm,1ft",
            "xnm,1ft",
        ] {
            assert!(bad.parse::<Minima>().is_err(), "{bad} accepted");
        }
    }
}
