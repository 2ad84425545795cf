//! Validation of volumes, with errors that name the offending field.
//!
//! Field paths use the ASTM F3548 wire names relative to a `Volume4D`
//! (`volume.outline_polygon.vertices[2].lat`, `volume.altitude_lower`,
//! `time_end`); [`validate_footprint`] uses the same paths without the
//! leading `volume.`. The first problem found is reported: numbers before
//! shapes, shapes before areas, so the message always points at the cause.
use crate::ellipsoid::{self, ecef_from_normal, norm, sub, Frame};
use crate::footprint::{
    self, Ring, DUPLICATE_TOLERANCE_M, MAX_FOOTPRINT_RADIUS_M, TOUCH_TOLERANCE_M,
};
use crate::planar::{self, P2};
use crate::{AltitudeRange, Footprint, LatLng, TimeRange, Volume4D};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_vertices: usize,
    pub max_area_m2: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_vertices: 1000,
            max_area_m2: 2.5e9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}
impl std::error::Error for ValidationError {}

/// Edges of one polygon closer than this (m) touch, which makes the outline
/// self-intersecting. Matches the duplicate-vertex tolerance: anything finer
/// is below the precision of the input.
const SELF_TOUCH_M: f64 = DUPLICATE_TOLERANCE_M;

/// A polygon whose mean width (2 × area / perimeter) is below this (m) has
/// no meaningful area: its vertices lie on one geodesic, to within the
/// precision coordinates are given with.
const MIN_MEAN_WIDTH_M: f64 = TOUCH_TOLERANCE_M;

/// Checks a footprint on its own; fields are named relative to a `Volume3D`
/// (`outline_polygon.vertices[0].lat`, `outline_circle.radius`).
pub fn validate_footprint(f: &Footprint, limits: &Limits) -> Result<(), ValidationError> {
    let area = check_footprint(f, limits, "")?;
    let field = match f {
        Footprint::Polygon { .. } => "outline_polygon",
        Footprint::Circle { .. } => "outline_circle",
    };
    check_area(area, f, limits, field)
}

/// Checks a volume; fields are named relative to a `Volume4D`.
pub fn validate_volume(v: &Volume4D, limits: &Limits) -> Result<(), ValidationError> {
    let area = check_footprint(&v.footprint, limits, "volume.")?;
    check_altitude(&v.altitude)?;
    check_time(&v.time, false)?;
    check_area(area, &v.footprint, limits, "volume")
}

/// Checks a volume used as a search area. Unlike a declaration, a search may
/// be for a single instant (start equal to end); start after end is still wrong.
pub fn validate_query_volume(v: &Volume4D, limits: &Limits) -> Result<(), ValidationError> {
    let area = check_footprint(&v.footprint, limits, "volume.")?;
    check_altitude(&v.altitude)?;
    check_time(&v.time, true)?;
    check_area(area, &v.footprint, limits, "volume")
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Numbers as a person would write them: `91`, `0.5`, `1e300` (f64's
/// `Display` spells huge values out digit by digit).
fn num(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e15 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// `x` rounded for a message: whole numbers above 100, three decimals below.
fn rounded(x: f64) -> String {
    if x.abs() >= 100.0 {
        num(x.round())
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn check_coordinate(
    value: f64,
    what: &str,
    bound: f64,
    field: impl FnOnce() -> String,
) -> Result<(), ValidationError> {
    if !value.is_finite() {
        return Err(err(
            field(),
            format!("{what} must be a finite number, got {}", num(value)),
        ));
    }
    if value.abs() > bound {
        return Err(err(
            field(),
            format!("{what} {} outside [-{bound}, {bound}]", num(value)),
        ));
    }
    Ok(())
}

/// `path` spells the point's field only if it is wrong: checking a valid
/// request formats no names (a search area's vertices are checked on every
/// query).
fn check_point(p: &LatLng, path: impl Fn() -> String) -> Result<(), ValidationError> {
    check_coordinate(p.lat, "latitude", 90.0, || format!("{}.lat", path()))?;
    check_coordinate(p.lng, "longitude", 180.0, || format!("{}.lng", path()))
}

/// What checking a footprint learned of its area, so that it is not
/// computed twice.
#[derive(Debug, Clone, Copy)]
enum Area {
    /// The geodesic area (m²).
    Exact(f64),
    /// Not computed: a planar estimate puts it clearly under the limit.
    UnderLimit,
    /// Not computed yet (circles: a closed formula).
    Unknown,
}

fn check_footprint(f: &Footprint, limits: &Limits, prefix: &str) -> Result<Area, ValidationError> {
    match f {
        Footprint::Polygon { vertices } => check_polygon(vertices, limits, prefix),
        Footprint::Circle { center, radius_m } => {
            check_point(center, || format!("{prefix}outline_circle.center"))?;
            let field = || format!("{prefix}outline_circle.radius");
            let r = *radius_m;
            if !r.is_finite() {
                return Err(err(
                    field(),
                    format!("radius must be a finite number, got {}", num(r)),
                ));
            }
            if r <= 0.0 {
                return Err(err(field(), format!("radius must be > 0, got {}", num(r))));
            }
            if r > MAX_FOOTPRINT_RADIUS_M {
                return Err(err(
                    field(),
                    format!(
                        "radius {} km exceeds the supported {} km",
                        rounded(r / 1e3),
                        rounded(MAX_FOOTPRINT_RADIUS_M / 1e3)
                    ),
                ));
            }
            Ok(Area::Unknown)
        }
    }
}

fn check_polygon(
    vertices: &[LatLng],
    limits: &Limits,
    prefix: &str,
) -> Result<Area, ValidationError> {
    let field = || format!("{prefix}outline_polygon.vertices");
    // Before anything costly: the count bounds all the work below.
    if vertices.len() > limits.max_vertices {
        return Err(err(
            field(),
            format!(
                "too many vertices: {} > {}",
                vertices.len(),
                limits.max_vertices
            ),
        ));
    }
    for (i, v) in vertices.iter().enumerate() {
        check_point(v, || format!("{}[{i}]", field()))?;
    }
    let few = || err(field(), "fewer than 3 distinct vertices");
    let (ring, cap) = Ring::build(vertices).ok_or_else(few)?;
    if ring.distinct < 3 {
        return Err(few());
    }

    // Extent: the farthest point from the cap centre (the chord picks it;
    // the reported distance is geodesic).
    let (clat, clng) = ellipsoid::latlng_from_normal(&cap.center);
    let c = ecef_from_normal(&cap.center);
    let far = (0..ring.len())
        .max_by(|&i, &j| norm(&sub(&ring.ecef[i], &c)).total_cmp(&norm(&sub(&ring.ecef[j], &c))))
        .map(|i| ring.pts[i])
        .unwrap_or(ring.pts[0]);
    let reach = ellipsoid::inverse(clat, clng, far.lat, far.lng);
    let too_big = || {
        err(
            field(),
            format!(
                "polygon extends {} km from its centre, more than the supported {} km",
                rounded(reach / 1e3),
                rounded(MAX_FOOTPRINT_RADIUS_M / 1e3)
            ),
        )
    };
    if reach.is_nan() || reach > MAX_FOOTPRINT_RADIUS_M || cap.angle >= std::f64::consts::FRAC_PI_2
    {
        return Err(too_big());
    }
    let frame = Frame::at_normal(cap.center);
    let mut pts = Vec::new();
    if !frame.project_all(&ring.ecef, &mut pts) {
        return Err(too_big());
    }

    let self_intersecting = || {
        err(
            field(),
            "polygon edges cross each other (self-intersecting)",
        )
    };
    if edges_cross(&pts) {
        return Err(self_intersecting());
    }
    // After the crossing test, so that a symmetric bow tie (whose signed area
    // is zero too) is reported for what it is.
    //
    // The plane of the frame gives area and perimeter to well under 1 % at
    // the footprint sizes allowed (its scale departs from the ellipsoid's by
    // ~0.3 % at most), so when it puts the polygon far from both thresholds
    // the geodesic computation (one inverse problem per edge, most of the
    // cost of validating a search area) is skipped.
    let (plane_area, plane_perimeter) = planar::area_and_perimeter(&pts);
    let plane_mean_width = 2.0 * plane_area / plane_perimeter;
    if plane_mean_width > 2.0 * MIN_MEAN_WIDTH_M && plane_area < 0.98 * limits.max_area_m2 {
        return Ok(Area::UnderLimit);
    }
    // Densified points lie on the edges, so they change neither the area
    // nor the perimeter.
    let (area, perimeter) = footprint::geodesic_area_and_perimeter(&ring.pts);
    if area.is_nan() || 2.0 * area < MIN_MEAN_WIDTH_M * perimeter {
        return Err(err(field(), "zero-area polygon"));
    }
    Ok(Area::Exact(area))
}

/// Whether two non-adjacent edges come within [`SELF_TOUCH_M`]. Swept along
/// x, so a 1,000-vertex outline costs a few thousand segment tests, not a
/// million.
///
/// Adjacent edges share a vertex and are not tested against each other. An
/// outline that doubles back (edge b→c running back along a→b) is still
/// caught: with four or more vertices the end of the shorter edge lies on the
/// longer one and the next edge, which is not adjacent to it, starts there;
/// with three the polygon is collinear and fails the zero-area test.
fn edges_cross(pts: &[P2]) -> bool {
    let n = pts.len();
    planar::any_self_edge_pair(pts, SELF_TOUCH_M, |i, j| {
        let adjacent = j == i + 1 || (i == 0 && j == n - 1);
        !adjacent
            && planar::segments_within(
                &pts[i],
                &pts[(i + 1) % n],
                &pts[j],
                &pts[(j + 1) % n],
                SELF_TOUCH_M,
            )
    })
}

fn check_altitude(alt: &AltitudeRange) -> Result<(), ValidationError> {
    let (lo, hi) = (alt.lower_m, alt.upper_m);
    let lower = "volume.altitude_lower";
    let upper = "volume.altitude_upper";
    if lo.is_nan() {
        return Err(err(lower, "altitude must be a number, got NaN"));
    }
    if hi.is_nan() {
        return Err(err(upper, "altitude must be a number, got NaN"));
    }
    // An infinite side is how an omitted (unbounded) side is represented; it
    // has to point the right way.
    if lo == f64::INFINITY {
        return Err(err(
            lower,
            "lower altitude must be finite or unbounded below, got +infinity",
        ));
    }
    if hi == f64::NEG_INFINITY {
        return Err(err(
            upper,
            "upper altitude must be finite or unbounded above, got -infinity",
        ));
    }
    if lo > hi {
        return Err(err(
            lower,
            format!(
                "lower altitude {} above upper altitude {}",
                num(lo),
                num(hi)
            ),
        ));
    }
    Ok(())
}

fn check_time(t: &TimeRange, instant_ok: bool) -> Result<(), ValidationError> {
    if let (Some(start), Some(end)) = (t.start, t.end) {
        if start > end || (start == end && !instant_ok) {
            return Err(err(
                "time_end",
                format!(
                    "start must be before end (start {}, end {})",
                    start.to_rfc3339(),
                    end.to_rfc3339()
                ),
            ));
        }
    }
    Ok(())
}

fn check_area(
    known: Area,
    f: &Footprint,
    limits: &Limits,
    field: &str,
) -> Result<(), ValidationError> {
    let area = match known {
        Area::UnderLimit => return Ok(()),
        Area::Exact(a) => a,
        Area::Unknown => f.area_m2(),
    };
    if area > limits.max_area_m2 {
        return Err(err(
            field,
            format!(
                "area {} km² exceeds the limit of {} km²",
                rounded(area / 1e6),
                rounded(limits.max_area_m2 / 1e6)
            ),
        ));
    }
    Ok(())
}
