//! The chart: each metric's load per ready replica against its target on top (as a percentage
//! of the target, so metrics of different units share an axis), the replicas below with the
//! replicas the demand needs and the steps whose reads failed; with several runs, all overlaid.
//!
//! SVG or PNG, chosen by the file's extension. Text is laid out with the DejaVu Sans font
//! bundled in `data/fonts/` (through plotters' `ab_glyph` feature), so the PNG renders the same
//! on a machine without any system font; the PNG is encoded with the `png` crate.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::engine::Run;
use super::history::format_millis;
use super::{Error, Result};

/// DejaVu Sans, under the Bitstream Vera licence (`data/fonts/LICENSE`).
static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
/// The chart's size in pixels.
pub const SIZE: (u32, u32) = (1200, 800);
const FAMILY: &str = "sans-serif";
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];
const TARGET: RGBColor = RGBColor(214, 39, 40);
const NEEDED: RGBColor = RGBColor(140, 140, 140);
const FAILED: RGBColor = RGBColor(255, 200, 200);

/// Registers the bundled font with plotters, once per process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the bundled font could not be loaded".to_owned())
    }
}

/// Writes the chart of `runs` to `path`: PNG for `.png`, SVG otherwise.
pub fn write(path: &Path, runs: &[Run], origin: &str) -> Result<()> {
    let display = path.display().to_string();
    let chart_error = |reason: String| Error::Chart {
        path: display.clone(),
        reason,
    };
    let png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let bytes = if png {
        render_png(runs, origin).map_err(chart_error)?
    } else {
        render_svg(runs, origin).map_err(chart_error)?.into_bytes()
    };
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: display.clone(),
        source,
    })
}

/// The chart as an SVG document.
pub fn render_svg(runs: &[Run], origin: &str) -> Result<String, String> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, runs, origin)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The chart as a PNG file's bytes.
pub fn render_png(runs: &[Run], origin: &str) -> Result<Vec<u8>, String> {
    register_font()?;
    let (width, height) = SIZE;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&root, runs, origin)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Consecutive runs of `Some` points, so a missing reading breaks the line.
fn segments(points: impl Iterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in points {
        match (y, out.last_mut()) {
            (Some(y), Some(last)) => last.push((x, y)),
            (None, Some(last)) if !last.is_empty() => out.push(Vec::new()),
            _ => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    runs: &[Run],
    origin: &str,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(text)?;
    let Some(first) = runs.first().and_then(|r| r.steps.first()) else {
        return Err("nothing to draw: the history has no steps".to_owned());
    };
    let start = first.time_millis;
    let hours = |millis: i64| (millis - start) as f64 / 3_600_000.0;
    let end = runs
        .iter()
        .filter_map(|r| r.steps.last().map(|s| s.time_millis + r.step_millis))
        .max()
        .unwrap_or(start + 1);
    let x_range = 0.0..hours(end).max(1e-3);
    let names: Vec<&str> = runs.iter().map(|r| r.plan.name.as_str()).collect();
    let title = format!("sextant simulate: {} — {origin}", names.join(" vs "));
    let root = root.titled(&title, (FAMILY, 22)).map_err(text)?;
    let (top, bottom) = root.split_vertically(SIZE.1 as i32 * 45 / 100);

    let peak = runs
        .iter()
        .flat_map(|r| r.steps.iter().flat_map(|s| s.load.iter().flatten()))
        .fold(1.5f64, |m, v| if v.is_finite() { m.max(*v) } else { m });
    let y_top = peak.min(4.0) * 105.0;
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), 0.0..y_top)
        .map_err(text)?;
    chart
        .configure_mesh()
        .y_desc("load per ready replica / target (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FAMILY, 13))
        .draw()
        .map_err(text)?;
    chart
        .draw_series(DashedLineSeries::new(
            [(x_range.start, 100.0), (x_range.end, 100.0)],
            8,
            4,
            TARGET.stroke_width(2),
        ))
        .map_err(text)?
        .label("target (100%)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TARGET));
    for (r, run) in runs.iter().enumerate() {
        for (m, column) in run.columns.iter().enumerate() {
            let color = COLORS[(r + m * runs.len()) % COLORS.len()];
            let points = run.steps.iter().map(|s| {
                let load = s.load.get(m).copied().flatten();
                (hours(s.time_millis), load.map(|v| (v * 100.0).min(y_top)))
            });
            for (index, segment) in segments(points).into_iter().enumerate() {
                let series = chart
                    .draw_series(LineSeries::new(segment, color.stroke_width(1)))
                    .map_err(text)?;
                if index == 0 {
                    series
                        .label(format!("{} load ({column})", run.plan.name))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                }
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 13))
        .draw()
        .map_err(text)?;

    let replicas_top = runs
        .iter()
        .flat_map(|r| {
            let cap = r.plan.max_replicas.saturating_mul(3) / 2;
            r.steps
                .iter()
                .map(move |s| s.after.max(s.before).max(s.needed.unwrap_or(0).min(cap)))
        })
        .max()
        .unwrap_or(1)
        + 1;
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), 0.0..f64::from(replicas_top))
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(format!("hours since {}", format_millis(start)))
        .y_desc("replicas")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FAMILY, 13))
        .draw()
        .map_err(text)?;
    draw_replica_panel(&mut chart, runs, &hours, f64::from(replicas_top)).map_err(text)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 13))
        .draw()
        .map_err(text)?;
    Ok(())
}

type Panel<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Failed reads as shaded bands, the needed replicas in grey, each run's replicas as steps.
fn draw_replica_panel<DB: DrawingBackend>(
    chart: &mut Panel<'_, DB>,
    runs: &[Run],
    hours: &dyn Fn(i64) -> f64,
    top: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if let Some(run) = runs.first() {
        let mut bands: Vec<(f64, f64)> = Vec::new();
        for step in run.steps.iter().filter(|s| s.failed_reads > 0) {
            let (from, to) = (
                hours(step.time_millis),
                hours(step.time_millis + run.step_millis),
            );
            match bands.last_mut() {
                Some(last) if (last.1 - from).abs() < 1e-9 => last.1 = to,
                _ => bands.push((from, to)),
            }
        }
        if !bands.is_empty() {
            chart
                .draw_series(
                    bands
                        .iter()
                        .map(|(a, b)| Rectangle::new([(*a, 0.0), (*b, top)], FAILED.filled())),
                )?
                .label("failed reads (gap in history)")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], FAILED.filled()));
        }
        let needed = run.steps.iter().map(|s| {
            (
                hours(s.time_millis),
                s.needed.map(|n| f64::from(n).min(top)),
            )
        });
        for (index, segment) in segments(needed).into_iter().enumerate() {
            let series = chart.draw_series(LineSeries::new(segment, NEEDED.stroke_width(1)))?;
            if index == 0 {
                series
                    .label(format!(
                        "replicas the demand needs at {}'s targets",
                        run.plan.name
                    ))
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], NEEDED));
            }
        }
    }
    for (r, run) in runs.iter().enumerate() {
        let color = COLORS[r % COLORS.len()];
        let mut points: Vec<(f64, f64)> = Vec::new();
        for step in &run.steps {
            let x = hours(step.time_millis);
            if points.is_empty() {
                points.push((x, f64::from(step.before)));
            }
            if step.after != step.before {
                points.push((x, f64::from(step.before)));
                points.push((x, f64::from(step.after)));
            }
        }
        if let Some(last) = run.steps.last() {
            points.push((
                hours(last.time_millis + run.step_millis),
                f64::from(last.after),
            ));
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("{} replicas", run.plan.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    Ok(())
}
