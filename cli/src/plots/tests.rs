//! Tests of the plots: labels present, determinism, refusals of input that
//! cannot be drawn truthfully, empty input drawn as "no data", PNG output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::style::RGBColor;
use sim::report::{Trace, TraceSlice, Track};

use super::look::PALETTE;
use super::*;

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-plots-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 2-layer BERT on the 4-chiplet ring, simulated with a trace.
fn simulated() -> sim::SimOutput {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hw_specs/edgetpu_ring4.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let spec = sim::spec::HwSpec::from_toml_str(&text, path).unwrap();
    let params = BTreeMap::from([("layers".to_string(), "2".to_string())]);
    let graph = sim::zoo::build("bert-base", &params).unwrap();
    let placement = sim::Placement::contiguous_balanced(&spec, &graph);
    let options = sim::SimOptions {
        trace: true,
        ..Default::default()
    };
    sim::simulate(&spec, &graph, &placement, &options).unwrap()
}

/// Whether the SVG has a `<text>` element reading exactly `label`.
fn has_label(svg: &str, label: &str) -> bool {
    svg.contains(&format!(">\n{label}\n</text>"))
}

fn svg_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
    assert!(text.trim_end().ends_with("</svg>"));
    text
}

/// Renders twice into different files and checks the bytes agree.
fn assert_deterministic(dir: &Path, draw: impl Fn(&Path) -> Result<(), PlotError>) -> Vec<u8> {
    let (a, b) = (dir.join("a"), dir.join("b"));
    draw(&a).unwrap();
    draw(&b).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "two renders differ");
    bytes
}

#[test]
fn chiplet_bars_label_every_chiplet_and_both_axes() {
    let out = simulated();
    let dir = temp_dir("bars");
    let path = dir.join("bars.svg");
    chiplet_bars(&out.report, "BERT on ring4", &path, Format::Svg).unwrap();
    let svg = svg_text(&path);
    for needle in [
        "BERT on ring4",
        "utilisation (%)",
        "SRAM (MiB)",
        "chiplet",
        "capacity",
        "c0",
        "c3",
    ] {
        assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
    }
    let bytes = assert_deterministic(&dir, |p| chiplet_bars(&out.report, "t", p, Format::Svg));
    assert!(bytes.starts_with(b"<svg"));
}

#[test]
fn gantt_has_a_row_per_chiplet_and_used_link_and_only_the_asked_microbatches() {
    let out = simulated();
    let trace = out.trace.as_ref().unwrap();
    let dir = temp_dir("gantt");
    let path = dir.join("gantt.svg");
    gantt(trace, 4, 2, "pipeline", &path, Format::Svg).unwrap();
    let svg = svg_text(&path);
    for needle in [
        "pipeline",
        "time (cycles)",
        "chiplet 0",
        "chiplet 3",
        "micro-batch:",
        "link 0 (0→1)",
    ] {
        assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
    }
    // Micro-batches 0 and 1 are in the legend; 2 is not drawn.
    let mb2 = format!("fill=\"{}\"", svg_colour(PALETTE[2]));
    assert!(svg.contains(&format!("fill=\"{}\"", svg_colour(PALETTE[1]))));
    assert!(!svg.contains(&mb2), "micro-batch 2 drawn");
    assert_deterministic(&dir, |p| gantt(trace, 4, 2, "pipeline", p, Format::Svg));
}

fn svg_colour(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[test]
fn gantt_refuses_a_slice_on_a_chiplet_outside_the_package() {
    let slice = TraceSlice {
        track: Track::Chiplet(7),
        op: sim::graph::OpId(0),
        start_cycle: 0,
        end_cycle: 10,
        microbatch: 0,
    };
    let trace = Trace {
        slices: vec![slice],
        op_names: vec!["matmul".into()],
        truncation: None,
    };
    let path = temp_dir("gantt-bad").join("g.svg");
    let err = gantt(&trace, 4, 1, "t", &path, Format::Svg).unwrap_err();
    assert!(
        matches!(
            &err,
            PlotError::BadInput {
                problem: BadInput::SliceOffPackage {
                    chiplet: 7,
                    n_chiplets: 4,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: trace slice \"matmul\" is on chiplet 7 but the package has 4 chiplets",
            path.display()
        )
    );
    assert!(!path.exists());
}

fn sweep() -> Vec<Series> {
    vec![
        Series {
            name: "4 chiplets".into(),
            invalid: Vec::new(),
            points: vec![(1024.0, 1.5e4), (4096.0, 2.1e4), (16384.0, 2.6e4)],
        },
        Series {
            name: "16 chiplets".into(),
            invalid: Vec::new(),
            points: vec![(1024.0, 3.9e4), (4096.0, 6.0e4), (16384.0, 7.7e4)],
        },
    ]
}

#[test]
fn metric_vs_param_labels_axes_series_and_swept_values() {
    let dir = temp_dir("metric");
    let path = dir.join("m.svg");
    let series = sweep();
    metric_vs_param(
        &series,
        "packet size (bytes)",
        "throughput (inf/s)",
        "sweep",
        true,
        &path,
        Format::Svg,
    )
    .unwrap();
    let svg = svg_text(&path);
    for needle in [
        "sweep",
        "packet size (bytes)",
        "throughput (inf/s)",
        "4 chiplets",
        "16 chiplets",
        "1024",
        "16384",
    ] {
        assert!(has_label(&svg, needle), "no {needle:?} in the SVG");
    }
    assert_deterministic(&dir, |p| {
        metric_vs_param(&series, "x", "y", "t", false, p, Format::Svg)
    });
}

#[test]
fn log_axis_refuses_non_positive_values_and_nan_is_refused_everywhere() {
    let path = temp_dir("metric-bad").join("m.svg");
    let zero = vec![Series {
        name: "s".into(),
        invalid: Vec::new(),
        points: vec![(0.0, 1.0)],
    }];
    let err = metric_vs_param(&zero, "x", "y", "t", true, &path, Format::Svg).unwrap_err();
    assert!(
        matches!(
            &err,
            PlotError::BadInput {
                problem: BadInput::NotPositiveOnLogAxis {
                    index: 0,
                    axis: LogAxis::X,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: series \"s\", point 0 (0, 1): x must be positive on a log-scale x axis",
            path.display()
        )
    );
    let nan = vec![Series {
        name: "s".into(),
        invalid: Vec::new(),
        points: vec![(1.0, f64::NAN)],
    }];
    let err = metric_vs_param(&nan, "x", "y", "t", false, &path, Format::Svg).unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    assert!(
        matches!(
            &err,
            PlotError::BadInput {
                problem: BadInput::NotFinite { index: 0, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!path.exists());
}

/// Empty input is drawn, not refused: axes, title and a "no data" note.
#[test]
fn empty_inputs_give_valid_plots_that_say_no_data() {
    let dir = temp_dir("empty");
    let mut report = simulated().report;
    report.chiplets.clear();
    type Draw<'a> = Box<dyn Fn(&Path) -> Result<(), PlotError> + 'a>;
    let cases: [(&str, Draw); 4] = [
        (
            "bars.svg",
            Box::new(|p| chiplet_bars(&report, "empty bars", p, Format::Svg)),
        ),
        (
            "gantt.svg",
            Box::new(|p| gantt(&Trace::default(), 4, 8, "empty gantt", p, Format::Svg)),
        ),
        (
            "nothing.svg",
            Box::new(|p| gantt(&Trace::default(), 0, 0, "no rows", p, Format::Svg)),
        ),
        (
            "lines.svg",
            Box::new(|p| metric_vs_param(&[], "x", "y", "empty lines", true, p, Format::Svg)),
        ),
    ];
    for (name, draw) in cases {
        let path = dir.join(name);
        draw(&path).unwrap();
        let svg = svg_text(&path);
        assert!(has_label(&svg, "no data"), "{name}");
    }
}

#[test]
fn png_output_is_a_deterministic_png() {
    let out = simulated();
    let dir = temp_dir("png");
    let png_magic = b"\x89PNG\r\n\x1a\n";
    let bytes = assert_deterministic(&dir, |p| chiplet_bars(&out.report, "bars", p, Format::Png));
    assert!(bytes.starts_with(png_magic));
    let trace = out.trace.as_ref().unwrap();
    let bytes = assert_deterministic(&dir, |p| gantt(trace, 4, 3, "gantt", p, Format::Png));
    assert!(bytes.starts_with(png_magic));
    let series = sweep();
    let bytes = assert_deterministic(&dir, |p| {
        metric_vs_param(&series, "x", "y", "lines", true, p, Format::Png)
    });
    assert!(bytes.starts_with(png_magic));
}

/// Renders one example of every plot, in both formats, into the directory
/// named by TESSERA_PLOT_EXAMPLES, for looking at; does nothing without it.
#[test]
fn examples_render_when_asked() {
    let Ok(dir) = std::env::var("TESSERA_PLOT_EXAMPLES") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = simulated();
    let trace = out.trace.as_ref().unwrap();
    for (ext, format) in [("svg", Format::Svg), ("png", Format::Png)] {
        let at = |name: &str| dir.join(format!("{name}.{ext}"));
        let title = "bert-base (2 layers) on edgetpu_ring4, contiguous placement";
        chiplet_bars(&out.report, title, &at("bars"), format).unwrap();
        gantt(trace, 4, 3, title, &at("gantt"), format).unwrap();
        let series = sweep();
        let x = "packet size (bytes)";
        let y = "throughput (inferences/s)";
        metric_vs_param(
            &series,
            x,
            y,
            "Throughput vs packet size",
            true,
            &at("metric"),
            format,
        )
        .unwrap();
        // A bigger package: 36 chiplets, a 12-layer model.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hw_specs/simba_6x6.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let spec = sim::spec::HwSpec::from_toml_str(&text, path).unwrap();
        let graph = sim::zoo::build("bert-base", &BTreeMap::new()).unwrap();
        let placement = sim::Placement::contiguous_balanced(&spec, &graph);
        let options = sim::SimOptions {
            trace: true,
            ..Default::default()
        };
        let big = sim::simulate(&spec, &graph, &placement, &options).unwrap();
        let title = "bert-base on simba_6x6";
        chiplet_bars(&big.report, title, &at("bars-big"), format).unwrap();
        let trace = big.trace.as_ref().unwrap();
        gantt(
            trace,
            spec.n_chiplets(),
            12,
            title,
            &at("gantt-big"),
            format,
        )
        .unwrap();
        // A learning curve: many points, log y, no markers.
        let curve = |name: &str, rate: f64| Series {
            name: name.into(),
            invalid: Vec::new(),
            points: (0..500)
                .map(|i| (i as f64, 2.0 * (-rate * i as f64).exp() + 0.01))
                .collect(),
        };
        let plot = LinePlot {
            title: "Learning curve",
            x_label: "episode",
            y_label: "loss",
            log_x: false,
            log_y: true,
            markers: false,
        };
        let curves = [
            curve("lr 1e-3", 0.01),
            curve("lr 3e-4, a much longer series name", 0.004),
        ];
        line_plot(&curves, &plot, &at("curve"), format).unwrap();
        gantt(
            &Trace::default(),
            4,
            8,
            "empty gantt",
            &at("gantt-empty"),
            format,
        )
        .unwrap();
        metric_vs_param(
            &[],
            "x",
            "y",
            "empty lines",
            false,
            &at("lines-empty"),
            format,
        )
        .unwrap();
    }
}

#[test]
fn invalid_points_are_hollow_markers_explained_in_the_legend() {
    let series = vec![Series {
        name: "throughput".into(),
        points: vec![(1.0, 2.0), (3.0, 4.0)],
        invalid: vec![(2.0, 5.0)],
    }];
    let dir = temp_dir("hollow");
    let path = dir.join("h.svg");
    metric_vs_param(&series, "x", "y", "t", false, &path, Format::Svg).unwrap();
    let svg = svg_text(&path);
    assert!(has_label(&svg, "hollow: invalid"), "no legend entry");
    let without = dir.join("v.svg");
    let valid_only = vec![Series {
        invalid: Vec::new(),
        ..series[0].clone()
    }];
    metric_vs_param(&valid_only, "x", "y", "t", false, &without, Format::Svg).unwrap();
    assert!(!has_label(&svg_text(&without), "hollow: invalid"));
}
