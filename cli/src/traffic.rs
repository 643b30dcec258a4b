//! The `traffic` command: synthetic traffic (uniform random, transpose,
//! hotspot) on a package's interconnect, with a readable summary or the JSON
//! report.

use std::path::PathBuf;

use sim::Switching;
use sim::spec::{ChipletId, HwSpec};
use sim::traffic::{Pattern, TrafficOptions, TrafficReport, run_traffic};

use crate::error::UserError;
use crate::load::load_spec;
use crate::table::{Align, Table, commas};

/// The `--pattern` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PatternArg {
    /// Each packet to a uniformly random other chiplet.
    Uniform,
    /// The chiplet at (r, c) sends to the one at (c, r); needs grid positions.
    Transpose,
    /// A share of the packets to one chiplet, the rest uniform.
    Hotspot,
}

/// What `tessera traffic` was asked to do.
#[derive(Clone, Debug)]
pub struct TrafficArgs {
    pub hw: PathBuf,
    pub pattern: PatternArg,
    pub hotspot_chiplet: Option<u32>,
    pub hotspot_fraction: Option<f64>,
    pub rate: f64,
    pub packet_bytes: u64,
    pub warmup: u64,
    pub cycles: u64,
    pub drain_max: u64,
    pub seed: u64,
    pub cut_through: bool,
    pub include_source: bool,
    pub json: bool,
}

/// Links listed in the summary, busiest first.
const BUSIEST_LINKS: usize = 8;

/// Turns the arguments into options; every mistake is a [`UserError`].
pub fn options(args: &TrafficArgs) -> Result<TrafficOptions, UserError> {
    let pattern = match args.pattern {
        PatternArg::Hotspot => {
            let (Some(chiplet), Some(fraction)) = (args.hotspot_chiplet, args.hotspot_fraction)
            else {
                return Err(UserError::new(
                    "--pattern hotspot needs --hotspot-chiplet N and --hotspot-fraction F",
                ));
            };
            Pattern::Hotspot {
                chiplet: ChipletId(chiplet),
                fraction,
            }
        }
        other => {
            if args.hotspot_chiplet.is_some() || args.hotspot_fraction.is_some() {
                return Err(UserError::new(
                    "--hotspot-chiplet and --hotspot-fraction apply only to --pattern hotspot",
                ));
            }
            match other {
                PatternArg::Transpose => Pattern::Transpose,
                _ => Pattern::UniformRandom,
            }
        }
    };
    if args.include_source && args.pattern != PatternArg::Uniform {
        return Err(UserError::new(
            "--include-source applies only to --pattern uniform",
        ));
    }
    if !(args.rate > 0.0 && args.rate <= 1.0) {
        return Err(UserError::new(format!(
            "--rate must be in (0, 1] packets per chiplet per cycle, got {}",
            args.rate
        )));
    }
    if args.packet_bytes > sim::MAX_PACKET_BYTES {
        return Err(UserError::new(format!(
            "--packet-bytes: must be at most {} (1 GiB), found {}",
            sim::MAX_PACKET_BYTES,
            args.packet_bytes
        )));
    }
    Ok(TrafficOptions {
        pattern,
        injection_rate: args.rate,
        packet_bytes: args.packet_bytes,
        warmup_cycles: args.warmup,
        measure_cycles: args.cycles,
        drain_cycles_max: args.drain_max,
        switching: if args.cut_through {
            Switching::CutThrough
        } else {
            Switching::StoreAndForward
        },
        seed: args.seed,
        include_source: args.include_source,
    })
}

/// Runs `tessera traffic`.
pub fn traffic(args: &TrafficArgs) -> Result<String, UserError> {
    let opts = options(args)?;
    let spec = load_spec(&args.hw)?;
    let report = run_traffic(&spec, &opts)
        .map_err(|e| UserError::new(format!("{}: {e}", args.hw.display())))?;
    Ok(if args.json {
        let mut s = serde_json::to_string_pretty(&report).expect("report serialises");
        s.push('\n');
        s
    } else {
        summary(&spec, &report)
    })
}

/// A readable summary of a report.
pub fn summary(spec: &HwSpec, r: &TrafficReport) -> String {
    let o = &r.options;
    let mut out = String::new();
    let pattern = match &o.pattern {
        Pattern::Hotspot { chiplet, fraction } => {
            format!("hotspot ({:.0}% to chiplet {chiplet})", fraction * 100.0)
        }
        p => p.name().replace('_', " "),
    };
    out.push_str(&format!(
        "{pattern} traffic on {} ({} chiplets, {}), {}-byte packets, {}\n",
        spec.name,
        spec.n_chiplets(),
        spec.topology,
        commas(o.packet_bytes),
        match (&spec.interconnect.buffers, o.switching) {
            (Some(b), _) => format!(
                "buffered routers ({} VCs × {} flits of {} bytes, wormhole)",
                b.virtual_channels, b.buffer_flits, b.flit_bytes
            ),
            (None, Switching::StoreAndForward) => "store-and-forward".to_string(),
            (None, Switching::CutThrough) => "cut-through".to_string(),
        }
    ));
    out.push_str(&format!(
        "{} warm-up + {} measured cycles, seed {}; {} of {} chiplets send{}\n\n",
        commas(o.warmup_cycles),
        commas(o.measure_cycles),
        o.seed,
        r.sending_chiplets,
        r.n_chiplets,
        if o.include_source {
            " (to any chiplet, themselves included)"
        } else {
            ""
        }
    ));
    let rows = [
        (
            "offered",
            format!(
                "{:.6} packets/chiplet/cycle ({:.1} % of the network's capacity for this pattern, {:.6})",
                r.offered_rate,
                r.offered_fraction_of_capacity * 100.0,
                r.capacity_injection_rate
            ),
        ),
        (
            "accepted throughput",
            format!("{:.6} packets/chiplet/cycle", r.accepted_throughput),
        ),
        ("avg latency", format!("{:.1} cycles", r.avg_latency_cycles)),
        (
            "p99 / max latency",
            format!(
                "{} / {} cycles",
                commas(r.p99_latency_cycles),
                commas(r.max_latency_cycles)
            ),
        ),
        (
            "zero-load latency",
            format!("{:.1} cycles", r.zero_load_latency_cycles),
        ),
        ("avg hops", format!("{:.2}", r.avg_hops)),
        (
            "packets",
            format!(
                "{} injected, {} delivered; {} measured, {} delivered",
                commas(r.packets_injected),
                commas(r.packets_delivered),
                commas(r.measured_packets),
                commas(r.measured_delivered)
            ),
        ),
        (
            "in flight",
            format!(
                "{} at window start, {} at window end",
                commas(r.in_flight_at_window_start),
                commas(r.in_flight_at_window_end)
            ),
        ),
        (
            "saturated",
            if r.saturated {
                format!("YES: {}", r.saturation_reasons.join("; "))
            } else {
                "no".to_string()
            },
        ),
        ("run ended at", format!("cycle {}", commas(r.end_cycle))),
    ];
    for (k, v) in rows {
        out.push_str(&format!("{k:<20}{v}\n"));
    }
    let mut busiest: Vec<_> = r.links.iter().filter(|l| l.packets > 0).collect();
    busiest.sort_by(|a, b| {
        b.busy_cycles_in_window
            .cmp(&a.busy_cycles_in_window)
            .then(a.id.cmp(&b.id))
    });
    if !busiest.is_empty() {
        let mut t = Table::new(&[
            ("link", Align::Right),
            ("from→to", Align::Left),
            ("packets", Align::Right),
            ("busy in window", Align::Right),
            ("util", Align::Right),
        ]);
        for l in busiest.iter().take(BUSIEST_LINKS) {
            t.row(vec![
                l.id.to_string(),
                format!("{}→{}", l.from, l.to),
                commas(l.packets),
                commas(l.busy_cycles_in_window),
                format!("{:.1}%", l.utilisation * 100.0),
            ]);
        }
        out.push_str(&format!(
            "\nbusiest links ({} of {} used):\n",
            busiest.len().min(BUSIEST_LINKS),
            busiest.len()
        ));
        out.push_str(&t.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pattern: PatternArg) -> TrafficArgs {
        let d = TrafficOptions::default();
        TrafficArgs {
            hw: PathBuf::from("x.toml"),
            pattern,
            hotspot_chiplet: None,
            hotspot_fraction: None,
            rate: 0.01,
            packet_bytes: d.packet_bytes,
            warmup: d.warmup_cycles,
            cycles: d.measure_cycles,
            drain_max: d.drain_cycles_max,
            seed: d.seed,
            cut_through: false,
            include_source: false,
            json: false,
        }
    }

    #[test]
    fn hotspot_arguments_go_with_the_hotspot_pattern_only() {
        assert!(options(&args(PatternArg::Hotspot)).is_err());
        let mut a = args(PatternArg::Hotspot);
        a.hotspot_chiplet = Some(3);
        a.hotspot_fraction = Some(0.3);
        assert_eq!(
            options(&a).unwrap().pattern,
            Pattern::Hotspot {
                chiplet: ChipletId(3),
                fraction: 0.3
            }
        );
        a.pattern = PatternArg::Uniform;
        assert!(options(&a).is_err());
    }

    #[test]
    fn the_command_line_defaults_are_the_library_defaults() {
        // The defaults `--help` shows are read from `TrafficOptions`.
        let help = crate::cli::run_args(["tessera", "traffic", "--help"]).stdout;
        let d = TrafficOptions::default();
        for v in [
            d.packet_bytes,
            d.warmup_cycles,
            d.measure_cycles,
            d.drain_cycles_max,
            d.seed,
        ] {
            assert!(help.contains(&format!("[default: {v}]")), "{v}:\n{help}");
        }
        let o = options(&args(PatternArg::Transpose)).unwrap();
        assert_eq!(o.pattern, Pattern::Transpose);
        assert_eq!(o.switching, Switching::StoreAndForward);
    }

    #[test]
    fn rates_outside_the_unit_interval_are_refused() {
        for rate in [0.0, -1.0, 1.01, f64::NAN, f64::INFINITY] {
            let mut a = args(PatternArg::Uniform);
            a.rate = rate;
            assert!(options(&a).is_err(), "{rate}");
        }
    }
}
