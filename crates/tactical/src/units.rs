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

/// How a surveillance feed's barometric altitudes become heights above the
/// WGS84 ellipsoid, the one datum inside (of volumes and of the telemetry
/// parties send).
///
/// Mode C and ADS-B barometric altitude is pressure altitude: the height in
/// the ICAO standard atmosphere of the pressure the aircraft measures, on
/// the 1013.25 hPa reference. Two steps make it a W84 height:
///
/// 1. the local sea-level pressure (QNH) turns it into a height above mean
///    sea level, by the same standard-atmosphere law (an offset of about
///    8.3 m per hPa near the ground; temperature departures from the
///    standard atmosphere are not corrected, as altimeters do not);
/// 2. the geoid height N of the area (mean sea level above the ellipsoid:
///    about +50 m in the Alps, -30 m in the Netherlands, +36 m around
///    Washington) turns that into a height above the ellipsoid.
///
/// Both vary slowly over the area one feed covers, so they are given per
/// feed. The default (1013.25 hPa, N = 0) leaves altitudes as reported, which
/// is right for separation between surveillance aircraft (all on the same
/// pressure reference) and off by tens of metres against volumes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PressureDatum {
    pub qnh_hpa: f64,
    pub geoid_height_m: f64,
}

/// ICAO standard atmosphere, troposphere: p = P0 (1 - h / H)^E.
const STANDARD_HPA: f64 = 1013.25;
const ISA_H_M: f64 = 44_330.77;
const ISA_EXP: f64 = 5.255_88;

impl Default for PressureDatum {
    fn default() -> Self {
        PressureDatum {
            qnh_hpa: STANDARD_HPA,
            geoid_height_m: 0.0,
        }
    }
}

impl PressureDatum {
    /// Checks the values an operator gave (`--sbs-qnh`, `--sbs-geoid-height`).
    pub fn new(qnh_hpa: f64, geoid_height_m: f64) -> Result<PressureDatum, String> {
        if !(850.0..=1100.0).contains(&qnh_hpa) {
            return Err(format!(
                "QNH {qnh_hpa} hPa is outside 850..1100 hPa (sea-level pressures on record)"
            ));
        }
        if !(-120.0..=100.0).contains(&geoid_height_m) {
            return Err(format!(
                "geoid height {geoid_height_m} m is outside -120..100 m (the geoid's range)"
            ));
        }
        Ok(PressureDatum {
            qnh_hpa,
            geoid_height_m,
        })
    }

    /// Height above the WGS84 ellipsoid (m) of a pressure altitude (ft).
    pub fn height_w84_m(&self, pressure_altitude_ft: f64) -> f64 {
        let h_p = pressure_altitude_ft * FT;
        let msl = if self.qnh_hpa == STANDARD_HPA {
            h_p
        } else {
            // The pressure at the aircraft, then the height of that pressure
            // above the QNH surface. Clamped at the top of the law's domain.
            let ratio = (1.0 - h_p / ISA_H_M).max(0.0).powf(ISA_EXP);
            let p = STANDARD_HPA * ratio;
            ISA_H_M * (1.0 - (p / self.qnh_hpa).powf(1.0 / ISA_EXP))
        };
        msl + self.geoid_height_m
    }
}

#[cfg(test)]
mod datum_tests {
    use super::*;

    #[test]
    fn the_standard_datum_leaves_altitudes_as_reported() {
        let d = PressureDatum::default();
        for ft in [-1000.0, 0.0, 2500.0, 37000.0] {
            assert_eq!(d.height_w84_m(ft), ft * FT);
        }
    }

    #[test]
    fn qnh_shifts_by_the_standard_atmosphere() {
        // At 1033.25 hPa (20 hPa above standard) an aircraft whose
        // altimeter on 1013.25 reads 0 ft is ~166 m above sea level
        // (the ISA gradient near sea level is ~8.3 m/hPa).
        let d = PressureDatum::new(1033.25, 0.0).unwrap();
        let h = d.height_w84_m(0.0);
        assert!((h - 166.0).abs() < 3.0, "{h}");
        // Low pressure puts it lower: 993.25 hPa.
        let low = PressureDatum::new(993.25, 0.0).unwrap().height_w84_m(0.0);
        assert!((low + 168.0).abs() < 3.0, "{low}");
        // A QNH altimeter reads its own field elevation on the ground: an
        // aircraft at the height of the 1013.25 surface over a QNH field is
        // at pressure altitude 0, whatever the QNH. Round trip through the law:
        let p_at_500m = 1020.0 * (1.0 - 500.0 / ISA_H_M).powf(ISA_EXP);
        let h_p_ft = ISA_H_M * (1.0 - (p_at_500m / STANDARD_HPA).powf(1.0 / ISA_EXP)) / FT;
        let back = PressureDatum::new(1020.0, 0.0)
            .unwrap()
            .height_w84_m(h_p_ft);
        assert!((back - 500.0).abs() < 1e-6, "{back}");
    }

    #[test]
    fn the_geoid_height_is_added() {
        let d = PressureDatum::new(1013.25, 49.5).unwrap();
        assert_eq!(d.height_w84_m(1000.0), 1000.0 * FT + 49.5);
    }

    #[test]
    fn implausible_values_are_refused_with_the_range() {
        assert!(PressureDatum::new(500.0, 0.0)
            .unwrap_err()
            .contains("850..1100"));
        assert!(PressureDatum::new(1013.0, 300.0)
            .unwrap_err()
            .contains("-120..100"));
        assert!(PressureDatum::new(f64::NAN, 0.0).is_err());
    }
}
