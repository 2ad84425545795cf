//! The common part of two footprints, for showing a strategic conflict to
//! people: the region both volumes cover, as polygons.
//!
//! Both footprints are projected into one [`Frame`] (a gnomonic-like plane
//! in which geodesic edges are straight to well under a metre at the sizes
//! footprints have), intersected there with `geo`'s boolean operations, and
//! the result's vertices are carried back to the ellipsoid along the
//! projection ray ([`Frame::unproject`]). Circles become 72-gons; the result is for display and
//! records, the decision itself stays with the exact tests of
//! [`Footprint::intersects`].

use crate::ellipsoid::{geodesic, latlng_from_normal, normal, normal_from_ecef, Frame};
use crate::footprint::{Footprint, LatLng};
use geo::{BooleanOps, Coord, LineString, Polygon};
use geographiclib_rs::DirectGeodesic;

const CIRCLE_SIDES: usize = 72;

/// The polygons (outer rings, not closed) where `a` and `b` overlap; empty
/// when they do not, or when they are too far apart to share one plane.
pub fn intersection(a: &Footprint, b: &Footprint) -> Vec<Vec<LatLng>> {
    let c = representative(a);
    let frame = Frame::at_normal(normal(c.lat, c.lng));
    let (Some(pa), Some(pb)) = (to_plane(a, &frame), to_plane(b, &frame)) else {
        return Vec::new();
    };
    pa.intersection(&pb)
        .0
        .iter()
        .filter_map(|p| {
            let ring = p.exterior();
            let n = ring.0.len().saturating_sub(1); // geo closes rings
            let pts: Vec<LatLng> = ring.0[..n]
                .iter()
                .map(|c| {
                    let x = frame.unproject([c.x, c.y]);
                    let (lat, lng) = latlng_from_normal(&normal_from_ecef(&x));
                    LatLng::new(lat, lng)
                })
                .collect();
            (pts.len() >= 3).then_some(pts)
        })
        .collect()
}

fn representative(f: &Footprint) -> LatLng {
    match f {
        Footprint::Circle { center, .. } => *center,
        Footprint::Polygon { vertices } => {
            vertices.first().copied().unwrap_or(LatLng::new(0.0, 0.0))
        }
    }
}

fn boundary(f: &Footprint) -> Vec<LatLng> {
    match f {
        Footprint::Polygon { vertices } => vertices.clone(),
        Footprint::Circle { center, radius_m } => (0..CIRCLE_SIDES)
            .map(|i| {
                let azi = 360.0 * i as f64 / CIRCLE_SIDES as f64;
                let (lat, lng): (f64, f64) =
                    geodesic().direct(center.lat, center.lng, azi, radius_m.max(0.01));
                LatLng::new(lat, lng)
            })
            .collect(),
    }
}

fn to_plane(f: &Footprint, frame: &Frame) -> Option<Polygon<f64>> {
    let pts: Option<Vec<Coord<f64>>> = boundary(f)
        .iter()
        .map(|p| {
            let x = crate::ellipsoid::ecef_from_normal(&normal(p.lat, p.lng));
            frame.project(&x).map(|[x, y]| Coord { x, y })
        })
        .collect();
    Some(Polygon::new(LineString::new(pts?), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(lat: f64, lng: f64, half: f64) -> Footprint {
        Footprint::Polygon {
            vertices: vec![
                LatLng::new(lat - half, lng - half),
                LatLng::new(lat - half, lng + half),
                LatLng::new(lat + half, lng + half),
                LatLng::new(lat + half, lng - half),
            ],
        }
    }

    #[test]
    fn overlapping_squares_share_the_expected_square() {
        let a = square(46.0, 7.0, 0.01);
        let b = square(46.01, 7.01, 0.01);
        let out = intersection(&a, &b);
        assert_eq!(out.len(), 1);
        let lats: Vec<f64> = out[0].iter().map(|p| p.lat).collect();
        let lngs: Vec<f64> = out[0].iter().map(|p| p.lng).collect();
        let (lo, hi) = (
            lats.iter().cloned().fold(f64::MAX, f64::min),
            lats.iter().cloned().fold(f64::MIN, f64::max),
        );
        assert!(
            (lo - 46.0).abs() < 1e-5 && (hi - 46.01).abs() < 1e-5,
            "{lats:?}"
        );
        let lo = lngs.iter().cloned().fold(f64::MAX, f64::min);
        assert!((lo - 7.0).abs() < 1e-5, "{lngs:?}");
        // Every vertex is in both footprints (to the metre).
        for p in &out[0] {
            assert!(a.distance_outside_m(*p) < 1.0 && b.distance_outside_m(*p) < 1.0);
        }
    }

    #[test]
    fn disjoint_footprints_have_no_overlap_and_circles_work() {
        assert!(intersection(&square(46.0, 7.0, 0.01), &square(47.0, 7.0, 0.01)).is_empty());
        let c = Footprint::Circle {
            center: LatLng::new(46.0, 7.0),
            radius_m: 500.0,
        };
        let out = intersection(&c, &square(46.0, 7.0, 0.1));
        assert_eq!(out.len(), 1);
        for p in &out[0] {
            let d = LatLng::new(46.0, 7.0).distance_m(p);
            assert!((d - 500.0).abs() < 1.0, "{d}");
        }
    }

    #[test]
    fn unproject_inverts_project() {
        let frame = Frame::at_normal(normal(89.9, 179.9));
        for (lat, lng) in [(89.95, -179.95), (89.85, 179.5), (89.9, 179.9)] {
            let x = crate::ellipsoid::ecef_from_normal(&normal(lat, lng));
            let p = frame.project(&x).unwrap();
            let x = frame.unproject(p);
            let (la, ln) = latlng_from_normal(&normal_from_ecef(&x));
            let back = LatLng::new(la, ln);
            assert!(LatLng::new(lat, lng).distance_m(&back) < 1e-3);
        }
    }
}
