//! Where every generated intent and query goes.
//!
//! The service refuses (409) an operational intent whose volumes meet another
//! intent unless the writer names that intent's OVN in its key. A benchmark of
//! throughput must therefore place its writes where nothing else is. This
//! module does that by construction: an area is cut into a grid of cells and
//! the horizon into time slots, and each (cell, slot) pair holds at most one
//! intent, drawn well inside its cell (the margin absorbs the flat-earth
//! approximations made here) and inside its slot (slots are separated by a
//! gap). A fixed permutation maps the n-th write to a (cell, slot) pair, so any
//! prefix of writes (10k, 100k, 1M) is spread uniformly over the whole area and
//! horizon rather than filling it row by row.
//!
//! Nothing here does I/O or reads the clock: the base time is an argument, so
//! the tests can check the geometry exhaustively.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rand::Rng;
use serde::{Serialize, Serializer};

/// Metres per degree of latitude (mean; it varies by 0.5 % pole to equator,
/// well inside the margins the grid leaves).
pub const M_PER_DEG_LAT: f64 = 111_132.0;

/// A point on WGS84, in degrees (serialized as the wire's `{lat, lng}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl std::str::FromStr for LatLng {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lat, lng) = s
            .split_once(',')
            .ok_or_else(|| format!("{s:?}: expected LAT,LNG"))?;
        let lat: f64 = lat.trim().parse().map_err(|e| format!("latitude: {e}"))?;
        let lng: f64 = lng.trim().parse().map_err(|e| format!("longitude: {e}"))?;
        // Grids of a few hundred km must not reach a pole or the antimeridian
        // (the flat approximations here would break, not the service).
        if !(-80.0..=80.0).contains(&lat) || !(-170.0..=170.0).contains(&lng) {
            return Err(format!(
                "{s:?}: keep within ±80° latitude and ±170° longitude"
            ));
        }
        Ok(LatLng { lat, lng })
    }
}

/// A rectangle in latitude and longitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl Rect {
    /// Whether the two rectangles share interior points (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.south < o.north && o.south < self.north && self.west < o.east && o.west < self.east
    }

    pub fn center(&self) -> LatLng {
        LatLng {
            lat: (self.south + self.north) / 2.0,
            lng: (self.west + self.east) / 2.0,
        }
    }

    /// The same centre, each side scaled by `f`.
    pub fn scaled(&self, f: f64) -> Rect {
        let c = self.center();
        let hl = (self.north - self.south) * f / 2.0;
        let hg = (self.east - self.west) * f / 2.0;
        Rect {
            south: c.lat - hl,
            west: c.lng - hg,
            north: c.lat + hl,
            east: c.lng + hg,
        }
    }

    /// Height and width in metres (width measured at the centre latitude).
    pub fn size_m(&self) -> (f64, f64) {
        let c = self.center();
        (
            (self.north - self.south) * M_PER_DEG_LAT,
            (self.east - self.west) * M_PER_DEG_LAT * c.lat.to_radians().cos(),
        )
    }

    /// The four corners, counter-clockwise from the south-west.
    pub fn corners(&self) -> Vec<LatLng> {
        vec![
            LatLng {
                lat: self.south,
                lng: self.west,
            },
            LatLng {
                lat: self.south,
                lng: self.east,
            },
            LatLng {
                lat: self.north,
                lng: self.east,
            },
            LatLng {
                lat: self.north,
                lng: self.west,
            },
        ]
    }
}

/// A square area cut into `n × n` square cells of (about) `cell_m` metres.
/// Cells are rectangles in latitude/longitude, so they tile exactly; their
/// width in metres drifts with latitude (±1.7 % across 200 km at 45°), which
/// the fill margin of [`Layout`] absorbs.
#[derive(Debug, Clone)]
pub struct Grid {
    south: f64,
    west: f64,
    dlat: f64,
    dlng: f64,
    pub n: u32,
}

impl Grid {
    pub fn centred(center: LatLng, size_m: f64, cell_m: f64) -> Grid {
        let n = (size_m / cell_m).round().max(1.0) as u32;
        let dlat = cell_m / M_PER_DEG_LAT;
        let dlng = cell_m / (M_PER_DEG_LAT * center.lat.to_radians().cos());
        Grid {
            south: center.lat - dlat * f64::from(n) / 2.0,
            west: center.lng - dlng * f64::from(n) / 2.0,
            dlat,
            dlng,
            n,
        }
    }

    pub fn cells(&self) -> u32 {
        self.n * self.n
    }

    /// Row-major cell number → its rectangle.
    pub fn cell(&self, cell: u32) -> Rect {
        let (row, col) = (f64::from(cell / self.n), f64::from(cell % self.n));
        Rect {
            south: self.south + row * self.dlat,
            west: self.west + col * self.dlng,
            north: self.south + (row + 1.0) * self.dlat,
            east: self.west + (col + 1.0) * self.dlng,
        }
    }

    /// The rectangle of cells `row0..row1` × `col0..col1` (exclusive ends).
    fn block(&self, row0: u32, col0: u32, row1: u32, col1: u32) -> Rect {
        Rect {
            south: self.south + f64::from(row0) * self.dlat,
            west: self.west + f64::from(col0) * self.dlng,
            north: self.south + f64::from(row1) * self.dlat,
            east: self.west + f64::from(col1) * self.dlng,
        }
    }

    pub fn bounds(&self) -> Rect {
        self.block(0, 0, self.n, self.n)
    }
}

/// The horizon cut into `count` slots of `len`; a flight in slot `s` lasts
/// `busy` from the slot's start, leaving `len - busy` of gap before the next.
#[derive(Debug, Clone)]
pub struct Slots {
    pub base: DateTime<Utc>,
    pub len: TimeDelta,
    pub busy: TimeDelta,
    pub count: u32,
}

impl Slots {
    pub fn window(&self, slot: u32) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.base + self.len * slot as i32;
        (start, start + self.busy)
    }

    pub fn horizon(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.base, self.base + self.len * self.count as i32)
    }
}

/// A bijection of `0..total` onto itself: k ↦ k·stride mod total with
/// gcd(stride, total) = 1. A stride near total/φ makes consecutive k land far
/// apart (a Weyl sequence), so every prefix is spread over the whole range.
#[derive(Debug, Clone)]
pub struct Placement {
    total: u64,
    stride: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Placement {
    pub fn new(total: u64) -> Placement {
        let mut stride = ((total as f64) / 1.618_033_988_75).round().max(1.0) as u64;
        while total > 1 && gcd(stride, total) != 1 {
            stride += 1;
        }
        Placement { total, stride }
    }

    pub fn get(&self, k: u64) -> Option<u64> {
        (k < self.total)
            .then(|| ((u128::from(k) * u128::from(self.stride)) % u128::from(self.total)) as u64)
    }
}

/// A horizontal footprint as the wire format has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Circle { center: LatLng, radius_m: f64 },
    Polygon(Vec<LatLng>),
}

/// A generated Volume4D.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub shape: Shape,
    pub altitude_m: (f64, f64),
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

// The F3548-21 `Volume4D` wire format, borrowed from a [`Volume`]: request
// bodies are serialized straight from these, with no intermediate
// `serde_json::Value` (the load generator shares the cores with the server,
// so its own cost per request matters).

#[derive(Serialize)]
struct TimeW {
    value: String,
    format: &'static str,
}

impl TimeW {
    fn new(t: DateTime<Utc>) -> TimeW {
        TimeW {
            value: t.to_rfc3339_opts(SecondsFormat::Secs, true),
            format: "RFC3339",
        }
    }
}

#[derive(Serialize)]
struct AltitudeW {
    value: f64,
    reference: &'static str,
    units: &'static str,
}

impl AltitudeW {
    fn new(m: f64) -> AltitudeW {
        AltitudeW {
            value: m,
            reference: "W84",
            units: "M",
        }
    }
}

#[derive(Serialize)]
struct RadiusW {
    value: f64,
    units: &'static str,
}

#[derive(Serialize)]
struct CircleW {
    center: LatLng,
    radius: RadiusW,
}

#[derive(Serialize)]
struct PolygonW<'a> {
    vertices: &'a [LatLng],
}

#[derive(Serialize)]
struct Volume3W<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    outline_circle: Option<CircleW>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outline_polygon: Option<PolygonW<'a>>,
    altitude_lower: AltitudeW,
    altitude_upper: AltitudeW,
}

#[derive(Serialize)]
struct Volume4W<'a> {
    volume: Volume3W<'a>,
    time_start: TimeW,
    time_end: TimeW,
}

/// Serializes as the F3548-21 `Volume4D` JSON.
impl Serialize for Volume {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (outline_circle, outline_polygon) = match &self.shape {
            Shape::Circle { center, radius_m } => (
                Some(CircleW {
                    center: *center,
                    radius: RadiusW {
                        value: *radius_m,
                        units: "M",
                    },
                }),
                None,
            ),
            Shape::Polygon(vertices) => (None, Some(PolygonW { vertices })),
        };
        Volume4W {
            volume: Volume3W {
                outline_circle,
                outline_polygon,
                altitude_lower: AltitudeW::new(self.altitude_m.0),
                altitude_upper: AltitudeW::new(self.altitude_m.1),
            },
            time_start: TimeW::new(self.start),
            time_end: TimeW::new(self.end),
        }
        .serialize(s)
    }
}

/// Share of a cell's side an intent's footprint spans: 0.7 leaves 15 % of the
/// cell on each side, far more than the approximations here can be off by.
pub const FILL: f64 = 0.7;

/// Where the intents of one part of the workload go: a grid (optionally with a
/// rectangular hole, where another layout lives), time slots, the permutation
/// that assigns the n-th write its (cell, slot), and an altitude band.
#[derive(Debug, Clone)]
pub struct Layout {
    pub grid: Grid,
    /// Usable cells (all of the grid's, minus those overlapping the hole).
    cells: Vec<u32>,
    pub slots: Slots,
    placement: Placement,
    pub altitude_m: (f64, f64),
}

impl Layout {
    pub fn new(grid: Grid, slots: Slots, hole: Option<Rect>) -> Layout {
        let cells: Vec<u32> = (0..grid.cells())
            .filter(|&c| hole.is_none_or(|h| !grid.cell(c).overlaps(&h)))
            .collect();
        let placement = Placement::new(cells.len() as u64 * u64::from(slots.count));
        Layout {
            grid,
            cells,
            slots,
            placement,
            altitude_m: (0.0, 120.0),
        }
    }

    /// How many intents fit without any two meeting.
    pub fn capacity(&self) -> u64 {
        self.cells.len() as u64 * u64::from(self.slots.count)
    }

    /// The (grid cell, slot) of the k-th intent; `None` past the capacity.
    pub fn place(&self, k: u64) -> Option<(u32, u32)> {
        let i = self.placement.get(k)?;
        let n = self.cells.len() as u64;
        Some((self.cells[(i % n) as usize], (i / n) as u32))
    }

    /// The k-th intent's volume; `None` past the capacity.
    pub fn volume(&self, k: u64) -> Option<Volume> {
        self.place(k).map(|(c, s)| self.volume_at(c, s))
    }

    /// The intent of (grid cell, slot): alternately a circle and a square
    /// (both shapes get exercised everywhere), inside the middle `FILL` of the
    /// cell.
    pub fn volume_at(&self, cell: u32, slot: u32) -> Volume {
        let rect = self.grid.cell(cell);
        let shape = if (cell + slot) % 2 == 0 {
            let (h, w) = rect.size_m();
            Shape::Circle {
                center: rect.center(),
                radius_m: FILL / 2.0 * h.min(w),
            }
        } else {
            Shape::Polygon(rect.scaled(FILL).corners())
        };
        let (start, end) = self.slots.window(slot);
        Volume {
            shape,
            altitude_m: self.altitude_m,
            start,
            end,
        }
    }

    /// What a USS planning the intent of (cell, slot) asks about first: the
    /// 3 × 3 cells around it (clamped to the grid) during the slot.
    pub fn neighbourhood(&self, cell: u32, slot: u32) -> Volume {
        let n = self.grid.n;
        let (row, col) = (cell / n, cell % n);
        let rect = self.grid.block(
            row.saturating_sub(1),
            col.saturating_sub(1),
            (row + 2).min(n),
            (col + 2).min(n),
        );
        let (start, end) = self.slots.window(slot);
        Volume {
            shape: Shape::Polygon(rect.corners()),
            altitude_m: self.altitude_m,
            start,
            end,
        }
    }

    /// A square of about `size_m` at a random place inside the grid, over the
    /// whole horizon: "what is planned around here?".
    pub fn random_area(&self, rng: &mut impl Rng, size_m: f64) -> Volume {
        let b = self.grid.bounds();
        let (h, w) = b.size_m();
        let fh = (size_m / h).min(1.0);
        let fw = (size_m / w).min(1.0);
        let lat0 = b.south + rng.gen_range(0.0..=1.0 - fh) * (b.north - b.south);
        let lng0 = b.west + rng.gen_range(0.0..=1.0 - fw) * (b.east - b.west);
        let rect = Rect {
            south: lat0,
            west: lng0,
            north: lat0 + fh * (b.north - b.south),
            east: lng0 + fw * (b.east - b.west),
        };
        let (start, end) = self.slots.horizon();
        Volume {
            shape: Shape::Polygon(rect.corners()),
            altitude_m: self.altitude_m,
            start,
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0).unwrap()
    }

    fn busy(center: LatLng) -> Layout {
        // The default busy-area shape, scaled down so every pair can be tested.
        Layout::new(
            Grid::centred(center, 1_000.0, 100.0),
            Slots {
                base: base(),
                len: TimeDelta::minutes(10),
                busy: TimeDelta::minutes(8),
                count: 3,
            },
            None,
        )
    }

    /// Decodes a generated volume exactly as the service does.
    fn decoded(v: &Volume) -> airspace::Volume4D {
        let json = serde_json::to_string(v).unwrap();
        let wire: server::wire::Volume4DIn = serde_json::from_str(&json).unwrap();
        server::wire::volume4d(&wire, "v").unwrap()
    }

    fn assert_pairwise_disjoint(vols: &[Volume]) {
        let limits = airspace::Limits::default();
        let dec: Vec<_> = vols.iter().map(decoded).collect();
        for (i, a) in dec.iter().enumerate() {
            airspace::validate_volume(a, &limits).unwrap();
            for (j, b) in dec.iter().enumerate().skip(i + 1) {
                assert!(
                    !a.intersects(b),
                    "volumes {i} and {j} meet:\n{:?}\n{:?}",
                    vols[i],
                    vols[j]
                );
            }
        }
    }

    #[test]
    fn placement_is_a_bijection() {
        for total in [1u64, 2, 10, 97, 100, 1_000, 4_096, 10_000] {
            let p = Placement::new(total);
            let mut seen = vec![false; total as usize];
            for k in 0..total {
                let i = p.get(k).unwrap() as usize;
                assert!(!seen[i], "total {total}: {i} hit twice");
                seen[i] = true;
            }
            assert_eq!(p.get(total), None);
        }
    }

    #[test]
    fn every_intent_of_a_busy_area_is_disjoint_from_every_other() {
        // Mid-latitude and high-latitude (cells are narrowest in degrees of
        // longitude there, and most distorted).
        for center in [
            LatLng {
                lat: 46.5,
                lng: 7.5,
            },
            LatLng {
                lat: 70.0,
                lng: -20.0,
            },
        ] {
            let layout = busy(center);
            assert_eq!(layout.capacity(), 300);
            let vols: Vec<Volume> = (0..layout.capacity())
                .map(|k| layout.volume(k).unwrap())
                .collect();
            assert!(layout.volume(layout.capacity()).is_none());
            // The permutation never reuses a (cell, slot): no two identical volumes.
            assert_pairwise_disjoint(&vols);
        }
    }

    #[test]
    fn region_around_a_hole_stays_out_of_the_busy_area() {
        let center = LatLng {
            lat: 46.5,
            lng: 7.5,
        };
        let inner = busy(center);
        // A 5 km region of 500 m cells with the 1 km busy area as its hole.
        let region = Layout::new(
            Grid::centred(center, 5_000.0, 500.0),
            Slots {
                base: base(),
                len: TimeDelta::minutes(30),
                busy: TimeDelta::minutes(25),
                count: 2,
            },
            Some(inner.grid.bounds()),
        );
        assert!(region.capacity() < 2 * 100);
        let mut vols: Vec<Volume> = (0..region.capacity())
            .map(|k| region.volume(k).unwrap())
            .collect();
        vols.extend((0..inner.capacity()).map(|k| inner.volume(k).unwrap()));
        assert_pairwise_disjoint(&vols);
    }

    #[test]
    fn edges_of_a_large_region_are_still_disjoint() {
        // The default 200 km region of 1 km cells: cells at its north and
        // south edges are the furthest from the latitude the grid was scaled
        // for. Check whole rows there, in one slot (the worst case).
        let layout = Layout::new(
            Grid::centred(
                LatLng {
                    lat: 46.5,
                    lng: 7.5,
                },
                200_000.0,
                1_000.0,
            ),
            Slots {
                base: base(),
                len: TimeDelta::minutes(30),
                busy: TimeDelta::minutes(25),
                count: 48,
            },
            None,
        );
        let n = layout.grid.n;
        for rows in [0..2, n - 2..n] {
            let vols: Vec<Volume> = rows
                .flat_map(|r| (0..40).map(move |c| r * n + c))
                .map(|cell| layout.volume_at(cell, 0))
                .collect();
            assert_pairwise_disjoint(&vols);
        }
    }

    #[test]
    fn queries_are_valid_and_see_what_they_should() {
        let layout = busy(LatLng {
            lat: 46.5,
            lng: 7.5,
        });
        let limits = airspace::Limits::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let bounds = layout.grid.bounds();
        for _ in 0..100 {
            let q = layout.random_area(&mut rng, 300.0);
            airspace::validate_query_volume(&decoded(&q), &limits).unwrap();
            let Shape::Polygon(vs) = &q.shape else {
                panic!("a query area is a polygon")
            };
            for p in vs {
                assert!(p.lat >= bounds.south - 1e-9 && p.lat <= bounds.north + 1e-9);
                assert!(p.lng >= bounds.west - 1e-9 && p.lng <= bounds.east + 1e-9);
            }
        }
        // The neighbourhood of an intent contains the intent.
        for k in 0..layout.capacity() {
            let (cell, slot) = layout.place(k).unwrap();
            let q = decoded(&layout.neighbourhood(cell, slot));
            let v = decoded(&layout.volume_at(cell, slot));
            assert!(q.contains(&v), "cell {cell} slot {slot}");
        }
    }
}
