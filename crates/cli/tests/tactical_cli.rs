//! The tactical subcommands of the binary, end to end on files.

use std::path::Path;
use std::process::Command;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tactical/tests/data")
        .join(name)
}

#[test]
fn detect_in_bluesky_mode_reproduces_the_reference_pairs_and_los() {
    let out = tempfile::tempdir().unwrap();
    let pairs = out.path().join("pairs.csv");
    let los = out.path().join("los.csv");
    let st = Command::new(env!("CARGO_BIN_EXE_deconflict"))
        .arg("detect")
        .arg(data("scenario_n1000_seed1.csv"))
        .args([
            "--mode",
            "bluesky",
            "--lookahead",
            "300",
            "--minima",
            "5nm,1000ft",
        ])
        .arg("--pairs-out")
        .arg(&pairs)
        .arg("--los-out")
        .arg(&los)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let ours = std::fs::read_to_string(&pairs).unwrap();
    assert_eq!(ours.lines().count(), 1 + 319, "header + 319 directed pairs");
    assert_eq!(
        std::fs::read_to_string(&los).unwrap(),
        std::fs::read_to_string(data("los_n1000_seed1_statebased_pygeo.csv")).unwrap()
    );
}

#[test]
fn replay_reports_a_loss_between_two_flights_with_the_documented_columns() {
    // A tiny recording: two aircraft 1 NM apart at the same level for a minute.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.csv");
    let mut csv = String::from(
        "timestamp,flight_id,icao24,callsign,lat_deg,lon_deg,alt_ft,gs_kt,track_deg,vrate_fpm\n",
    );
    for s in (0..60).step_by(10) {
        let lon = 7.0 + s as f64 * 0.0005;
        csv += &format!("2024-01-01T10:00:{s:02}Z,F1,aaaaaa,AAA1,46.0,{lon},35000,400,90,0\n");
        csv += &format!("2024-01-01T10:00:{s:02}Z,F2,bbbbbb,BBB2,46.0166,{lon},35000,400,90,0\n");
    }
    std::fs::write(&file, csv).unwrap();
    let report = dir.path().join("r.csv");
    let st = Command::new(env!("CARGO_BIN_EXE_deconflict"))
        .arg("replay")
        .arg(&file)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with(
        "flight_id_a,flight_id_b,first_time,last_time,min_horiz_nm,vert_ft_at_min,duration_s"
    ));
    let row = lines.next().expect("one loss reported");
    assert!(row.starts_with("F1,F2,2024-01-01T10:00:00Z,"), "{row}");
    assert!(lines.next().is_none());
}
