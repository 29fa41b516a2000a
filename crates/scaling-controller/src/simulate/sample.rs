//! The bundled sample: one synthetic day of request rate, used when neither `--data` nor
//! `--prometheus` is given. It is made by [`generate_csv`] with the formula below and shipped
//! as `data/sample-day.csv` (a test checks the two agree), so it is also a template for a data
//! file of one's own.
//!
//! For step `i` (15 s apart from 2026-01-01T00:00:00Z) at hour `h = i / 240`:
//! - diurnal demand `200 − 160·cos(2π(h − 2)/24)` requests/s: 40 at 02:00, 360 at 14:00;
//! - noise: times `1 + 0.1·(u − 0.5)`, `u` in [0, 1) from SplitMix64 of `i` (±5 %);
//! - a flash spike at 11:00: ×3 for five minutes, then back to ×1 linearly over five minutes;
//! - a store outage 16:00–16:06: the value is left empty (24 missing readings);
//! - rounded to 0.1.

use std::f64::consts::PI;
use std::fmt::Write;

use super::Result;
use super::history::{History, parse_csv};

/// The column the sample fills: the total request rate over all pods.
pub const COLUMN: &str = "http_requests_per_second";
/// The bundled sample as shipped.
pub const CSV: &str = include_str!("../../data/sample-day.csv");
/// What the sample is called in messages and the chart's caption.
pub const ORIGIN: &str = "bundled sample (synthetic day)";

const START_SECONDS: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const STEP_SECONDS: i64 = 15;
const STEPS: u64 = 24 * 3600 / 15;

/// The bundled sample as a [`History`].
pub fn history() -> Result<History> {
    let mut history = parse_csv(CSV, "data/sample-day.csv")?;
    history.origin = ORIGIN.to_owned();
    Ok(history)
}

/// SplitMix64: a tiny, well-known integer hash, so the noise is the same on every platform.
fn splitmix64(index: u64) -> u64 {
    let mut z = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The demand at step `index`, or `None` during the outage.
pub fn demand(index: u64) -> Option<f64> {
    let whole_seconds = index as i64 * STEP_SECONDS;
    if (16 * 3600..16 * 3600 + 360).contains(&whole_seconds) {
        return None;
    }
    let seconds = whole_seconds as f64;
    let hour = seconds / 3600.0;
    let diurnal = 200.0 - 160.0 * (2.0 * PI * (hour - 2.0) / 24.0).cos();
    let unit = (splitmix64(index) >> 11) as f64 / (1u64 << 53) as f64;
    let noise = 1.0 + 0.1 * (unit - 0.5);
    let spike_start = 11.0 * 3600.0;
    let spike = match seconds - spike_start {
        s if (0.0..300.0).contains(&s) => 3.0,
        s if (300.0..600.0).contains(&s) => 3.0 - 2.0 * (s - 300.0) / 300.0,
        _ => 1.0,
    };
    Some((diurnal * noise * spike * 10.0).round() / 10.0)
}

/// The sample's CSV text, exactly as `data/sample-day.csv` holds it.
pub fn generate_csv() -> String {
    let mut out = String::from(
        "# Synthetic: one day of total request rate (requests/s over all pods), made by\n\
         # scaling_controller::simulate::sample::generate_csv (see docs/simulate.md):\n\
         # 200 - 160*cos(2*pi*(h-2)/24), +-5% SplitMix64 noise, x3 flash spike at 11:00,\n\
         # store outage 16:00-16:06 (empty cells).\n",
    );
    let _ = writeln!(out, "timestamp,{COLUMN}");
    for index in 0..STEPS {
        let time = START_SECONDS + index as i64 * STEP_SECONDS;
        match demand(index) {
            Some(value) => {
                let _ = writeln!(out, "{time},{value:.1}");
            }
            None => {
                let _ = writeln!(out, "{time},");
            }
        }
    }
    out
}
