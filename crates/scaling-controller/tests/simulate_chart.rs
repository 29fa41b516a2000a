//! The chart: a well-formed SVG with the expected series, and a PNG that decodes to the chart's
//! size with the bundled font (no system font involved).

use std::io::Cursor;
use std::path::Path;

use scaling_controller::simulate::chart::{SIZE, render_png, render_svg, write};
use scaling_controller::simulate::{Run, SimulationOptions, plan, sample, simulate};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

fn runs() -> Vec<Run> {
    let history = sample::history().unwrap_or_else(|e| panic!("{e}"));
    ["example-policy.yaml", "example-policy-lean.yaml"]
        .iter()
        .map(|file| {
            let plan =
                plan::load(Path::new(&format!("{DATA}/{file}"))).unwrap_or_else(|e| panic!("{e}"));
            simulate(&plan, &history, SimulationOptions::default())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

#[test]
fn svg_is_well_formed_with_both_policies_overlaid() {
    let svg = render_svg(&runs(), sample::ORIGIN).unwrap_or_else(|e| panic!("{e}"));
    let document = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some(SIZE.0.to_string().as_str()));
    assert_eq!(root.attribute("height"), Some(SIZE.1.to_string().as_str()));
    let texts: Vec<&str> = document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    for expected in [
        "target (100%)",
        "checkout load (http_requests_per_second)",
        "checkout-lean load (http_requests_per_second)",
        "checkout replicas",
        "checkout-lean replicas",
        "failed reads (gap in history)",
        "replicas",
    ] {
        assert!(
            texts.contains(&expected),
            "no {expected:?} in the SVG's texts: {texts:?}"
        );
    }
    let lines = document
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(
        lines >= 5,
        "expected the series as polylines, found {lines}"
    );
}

#[test]
fn png_decodes_to_the_chart_size() {
    let bytes = render_png(&runs(), sample::ORIGIN).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let reader = png::Decoder::new(Cursor::new(&bytes))
        .read_info()
        .unwrap_or_else(|e| panic!("not a PNG: {e}"));
    let info = reader.info();
    assert_eq!((info.width, info.height), SIZE);
    // Text was drawn: a blank chart compresses far smaller than one with labels and lines.
    assert!(
        bytes.len() > 20_000,
        "suspiciously small PNG: {} bytes",
        bytes.len()
    );
}

#[test]
fn the_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runs = runs();
    let svg = dir.path().join("chart.svg");
    let png = dir.path().join("chart.PNG");
    write(&svg, &runs, "test").unwrap_or_else(|e| panic!("{e}"));
    write(&png, &runs, "test").unwrap_or_else(|e| panic!("{e}"));
    let svg = std::fs::read(&svg).unwrap_or_else(|e| panic!("{e}"));
    let png = std::fs::read(&png).unwrap_or_else(|e| panic!("{e}"));
    assert!(svg.starts_with(b"<svg"));
    assert!(png.starts_with(b"\x89PNG"));
}
