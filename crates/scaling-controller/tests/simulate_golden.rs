//! The bundled sample: it matches its documented formula, and the example policy's summary
//! over it is the checked-in golden file. Regenerate both deliberately with
//! `SEXTANT_BLESS=1 cargo test -p scaling-controller --test simulate_golden`.

use std::path::Path;

use scaling_controller::simulate::summary::{Format, render};
use scaling_controller::simulate::{SimulationOptions, Summary, plan, sample, simulate};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

fn bless() -> bool {
    std::env::var_os("SEXTANT_BLESS").is_some()
}

#[test]
fn shipped_sample_matches_its_formula() {
    let generated = sample::generate_csv();
    if bless() {
        let path = format!("{DATA}/sample-day.csv");
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    assert!(
        sample::CSV == generated,
        "data/sample-day.csv differs from sample::generate_csv(); regenerate deliberately with \
         SEXTANT_BLESS=1 cargo test -p scaling-controller --test simulate_golden"
    );
}

#[test]
fn sample_has_a_day_a_spike_and_an_outage() {
    let history = sample::history().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len, 5760);
    assert_eq!(history.step_millis, 15_000);
    let values = &history.columns[0].values;
    assert_eq!(values.iter().filter(|v| v.is_none()).count(), 24);
    let at = |hour: f64| values[(hour * 240.0) as usize].unwrap_or(f64::NAN);
    assert!(
        at(2.0) < 50.0 && at(14.0) > 330.0,
        "{} {}",
        at(2.0),
        at(14.0)
    );
    assert!(at(11.02) > 2.5 * at(10.98));
}

#[test]
fn example_policy_summary_on_the_sample_is_golden() {
    let plan = plan::load(Path::new(&format!("{DATA}/example-policy.yaml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let history = sample::history().unwrap_or_else(|e| panic!("{e}"));
    let run =
        simulate(&plan, &history, SimulationOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let summary = Summary::of(&run);
    // The outage's 24 missing readings are failed reads; the fallback engages on the third.
    assert_eq!(summary.failed_reads, 24);
    assert_eq!(summary.held_steps, 2);
    assert_eq!(summary.fallback_steps, 22);
    let text = render(&[summary], Format::Json);
    let path = format!("{DATA}/golden-sample-summary.json");
    if bless() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        text, golden,
        "the summary changed; if deliberately, regenerate with SEXTANT_BLESS=1"
    );
}
