//! Unit tests of hardware spec reading: generators, routing, pipeline order.

use super::*;

/// The parts of a spec that vary between tests; everything else is a fixed,
/// valid package of 64 × 64 chiplets.
struct Package<'a> {
    /// `[[chiplets]]` entries (and any extra chiplet types).
    chiplets: &'a str,
    /// `[[topology]]` generators and `[[links]]`.
    links: &'a str,
    /// The `[routing]` table.
    routing: &'a str,
    /// The value of `pipeline_order`.
    pipeline_order: &'a str,
}

impl Package<'_> {
    fn text(&self) -> String {
        format!(
            r#"name = "unit"
source = ["unit test"]
notes = ""
clock_mhz = 1000
pipeline_order = {order}

[chiplet_types.big]
macs_per_cycle = 4096
array_rows = 64
array_cols = 64
vector_elems_per_cycle = 128
sram_kib = 8192
sram_bandwidth_bytes_per_cycle = 512
op_overhead_cycles = 100
energy_per_mac_pj = 0.2
energy_per_sram_byte_pj = 1.0

{chiplets}
{links}
{routing}

[constraints]
acyclic_dataflow = true
no_skipping = "edge"
no_triangle = true
sram_capacity = true
"#,
            order = self.pipeline_order,
            chiplets = self.chiplets,
            links = self.links,
            routing = self.routing,
        )
    }

    fn spec(&self) -> HwSpec {
        HwSpec::from_toml_str(&self.text(), "unit.toml")
            .unwrap_or_else(|d| panic!("spec rejected:\n{d}\n--- spec ---\n{}", self.text()))
    }
}

const SHORTEST_PATH: &str = "[routing]\nkind = \"shortest_path\"\n";
const XY: &str = "[routing]\nkind = \"xy\"\n";

fn chiplets(n: u32) -> String {
    format!("[[chiplets]]\nid_range = [0, {}]\ntype = \"big\"\n", n - 1)
}

/// A generator of `kind` with the given extra keys and fixed link properties.
fn generator(kind: &str, extra: &str) -> String {
    format!(
        "[[topology]]\nkind = \"{kind}\"\n{extra}\nbandwidth_bytes_per_cycle = 8\nlatency_cycles = 50\nenergy_per_bit_pj = 5.0\n"
    )
}

fn ring(n: u32, bidirectional: bool, routing: &str) -> HwSpec {
    Package {
        chiplets: &chiplets(n),
        links: &generator("ring", &format!("bidirectional = {bidirectional}")),
        routing,
        pipeline_order: "\"ascending\"",
    }
    .spec()
}

fn grid(kind: &str, rows: u32, cols: u32, routing: &str, pipeline_order: &str) -> HwSpec {
    Package {
        chiplets: &chiplets(rows * cols),
        links: &generator(kind, &format!("rows = {rows}\ncols = {cols}")),
        routing,
        pipeline_order,
    }
    .spec()
}

/// The chips a route visits, `src` first and `dst` last.
fn route(spec: &HwSpec, src: u32, dst: u32) -> Vec<u32> {
    let mut chips = vec![src];
    let mut here = ChipletId(src);
    for &l in spec.routes.path(ChipletId(src), ChipletId(dst)) {
        let link = spec.link(l);
        assert_eq!(link.from, here, "route {src}→{dst} is not a chain of links");
        here = link.to;
        chips.push(here.0);
    }
    chips
}

fn ids(chips: &[ChipletId]) -> Vec<u32> {
    chips.iter().map(|c| c.0).collect()
}

#[test]
fn unidirectional_ring_routes_go_forward_only() {
    let spec = ring(4, false, SHORTEST_PATH);
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(pairs, [(0, 1), (1, 2), (2, 3), (3, 0)]);
    assert_eq!(route(&spec, 3, 0), [3, 0]);
    assert_eq!(route(&spec, 0, 3), [0, 1, 2, 3]);
    assert_eq!(route(&spec, 2, 1), [2, 3, 0, 1]);
    assert!(spec.routes.path(ChipletId(1), ChipletId(1)).is_empty());
    assert_eq!(spec.topology, "unidirectional ring of 4");
}

#[test]
fn bidirectional_ring_takes_the_shorter_way() {
    let spec = ring(5, true, SHORTEST_PATH);
    assert_eq!(spec.links.len(), 10);
    assert_eq!(route(&spec, 0, 2), [0, 1, 2]);
    assert_eq!(route(&spec, 0, 3), [0, 4, 3]);
    assert_eq!(route(&spec, 4, 1), [4, 0, 1]);
}

#[test]
fn bidirectional_ring_breaks_ties_toward_the_smaller_chip_sequence() {
    // Halfway round a 6-ring both ways are 3 hops; the smaller sequence wins
    // whether it runs forward or backward.
    let spec = ring(6, true, SHORTEST_PATH);
    assert_eq!(route(&spec, 0, 3), [0, 1, 2, 3]);
    assert_eq!(route(&spec, 2, 5), [2, 1, 0, 5]);
    assert_eq!(route(&spec, 3, 0), [3, 2, 1, 0]);
    assert_eq!(route(&spec, 5, 2), [5, 0, 1, 2]);
}

#[test]
fn mesh_xy_routes_go_along_the_column_index_first_then_the_row() {
    // 3 × 3 mesh, chip = 3 × row + col.
    let spec = grid("mesh", 3, 3, XY, "\"ascending\"");
    assert_eq!(spec.routing, Routing::Xy);
    assert_eq!(spec.chiplets[5].position, Some([1, 2]));
    assert_eq!(route(&spec, 0, 8), [0, 1, 2, 5, 8]);
    assert_eq!(route(&spec, 8, 0), [8, 7, 6, 3, 0]);
    assert_eq!(route(&spec, 2, 6), [2, 1, 0, 3, 6]);
    assert_eq!(route(&spec, 3, 5), [3, 4, 5]);
    assert_eq!(route(&spec, 7, 1), [7, 4, 1]);
    // Shortest path on the same mesh prefers the smaller chip sequence instead.
    let sp = grid("mesh", 3, 3, SHORTEST_PATH, "\"ascending\"");
    assert_eq!(route(&sp, 8, 0), [8, 5, 2, 1, 0]);
}

#[test]
fn torus_xy_takes_the_shorter_wrap_direction() {
    // 4 × 4 torus, chip = 4 × row + col.
    let spec = grid("torus", 4, 4, XY, "\"ascending\"");
    assert_eq!(spec.links.len(), 64);
    assert_eq!(spec.topology, "torus 4x4");
    assert_eq!(route(&spec, 0, 3), [0, 3], "one wrap hop instead of three");
    assert_eq!(route(&spec, 3, 0), [3, 0]);
    assert_eq!(route(&spec, 0, 12), [0, 12]);
    assert_eq!(route(&spec, 0, 15), [0, 3, 15]);
    assert_eq!(route(&spec, 1, 14), [1, 2, 14]);
    // Two hops either way: ties go in the increasing direction, in both dimensions.
    assert_eq!(route(&spec, 0, 2), [0, 1, 2]);
    assert_eq!(route(&spec, 5, 15), [5, 6, 7, 11, 15]);
}

#[test]
fn shortest_path_ties_on_a_2x2_mesh_take_the_smaller_chip_sequence() {
    // 0 1
    // 2 3
    let spec = grid("mesh", 2, 2, SHORTEST_PATH, "\"ascending\"");
    assert_eq!(spec.links.len(), 8);
    assert_eq!(route(&spec, 0, 3), [0, 1, 3]);
    assert_eq!(route(&spec, 3, 0), [3, 1, 0]);
    assert_eq!(route(&spec, 1, 2), [1, 0, 2]);
    assert_eq!(route(&spec, 2, 1), [2, 0, 1]);
    // XY on the same grid goes along the row first.
    let xy = grid("mesh", 2, 2, XY, "\"ascending\"");
    assert_eq!(route(&xy, 3, 0), [3, 2, 0]);
    assert_eq!(route(&xy, 1, 2), [1, 0, 2]);
    assert_eq!(route(&xy, 2, 1), [2, 3, 1]);
}

#[test]
fn snake_pipeline_order_on_a_3x3_mesh_reverses_every_other_row() {
    let spec = grid("mesh", 3, 3, SHORTEST_PATH, "\"snake\"");
    assert_eq!(ids(&spec.pipeline_order), [0, 1, 2, 5, 4, 3, 6, 7, 8]);
    assert_eq!(spec.pipeline_positions(), [0, 1, 2, 5, 4, 3, 6, 7, 8]);
}

#[test]
fn snake_pipeline_order_follows_explicit_positions() {
    // Chips placed out of id order: 0 at [1, 1], 1 at [0, 0], 2 at [1, 0], 3 at [0, 1].
    let placed: String = [[1, 1], [0, 0], [1, 0], [0, 1]]
        .iter()
        .enumerate()
        .map(|(id, [r, c])| {
            format!("[[chiplets]]\nid = {id}\ntype = \"big\"\nposition = [{r}, {c}]\n\n")
        })
        .collect();
    let spec = Package {
        chiplets: &placed,
        links: &generator("all_to_all", ""),
        routing: SHORTEST_PATH,
        pipeline_order: "\"snake\"",
    }
    .spec();
    assert_eq!(ids(&spec.pipeline_order), [1, 3, 0, 2]);
}

#[test]
fn ascending_and_explicit_pipeline_orders() {
    let spec = ring(4, false, SHORTEST_PATH);
    assert_eq!(ids(&spec.pipeline_order), [0, 1, 2, 3]);
    let spec = Package {
        chiplets: &chiplets(4),
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "[2, 0, 3, 1]",
    }
    .spec();
    assert_eq!(ids(&spec.pipeline_order), [2, 0, 3, 1]);
    assert_eq!(spec.pipeline_positions(), [1, 3, 0, 2]);
}

#[test]
fn all_to_all_has_a_link_for_every_ordered_pair() {
    for n in [2u32, 3, 5] {
        let spec = Package {
            chiplets: &chiplets(n),
            links: &generator("all_to_all", ""),
            routing: SHORTEST_PATH,
            pipeline_order: "\"ascending\"",
        }
        .spec();
        assert_eq!(spec.links.len() as u32, n * (n - 1));
        let pairs: BTreeSet<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
        assert_eq!(pairs.len(), spec.links.len(), "a pair is linked twice");
        for a in 0..n {
            for b in (0..n).filter(|&b| b != a) {
                assert_eq!(route(&spec, a, b), [a, b]);
            }
        }
    }
}

#[test]
fn chain_links_neighbours_without_wrapping() {
    // A one-way chain cannot reach back to its first chip, which every
    // routing must; the error names who cannot reach whom.
    let one_way = Package {
        chiplets: &chiplets(4),
        links: &generator("chain", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    };
    let err = HwSpec::from_toml_str(&one_way.text(), "unit.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("no route reaches chiplet 0 from chiplet(s) 1, 2, 3"),
        "{err}"
    );
    let spec = Package {
        chiplets: &chiplets(4),
        links: &generator("chain", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(pairs, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]);
    assert_eq!(route(&spec, 3, 0), [3, 2, 1, 0]);
}

#[test]
fn links_are_sorted_by_from_then_to_and_ids_are_indices() {
    let explicit: String = [(3, 1), (0, 2), (2, 0), (1, 3)]
        .iter()
        .map(|(f, t)| {
            format!(
                "[[links]]\nfrom = {f}\nto = {t}\nbandwidth_bytes_per_cycle = 4\nlatency_cycles = 9\nenergy_per_bit_pj = 1.5\n\n"
            )
        })
        .collect();
    let spec = Package {
        chiplets: &chiplets(4),
        links: &format!("{}\n{explicit}", generator("ring", "bidirectional = false")),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    let pairs: Vec<(u32, u32)> = spec.links.iter().map(|l| (l.from.0, l.to.0)).collect();
    assert_eq!(
        pairs,
        [
            (0, 1),
            (0, 2),
            (1, 2),
            (1, 3),
            (2, 0),
            (2, 3),
            (3, 0),
            (3, 1)
        ]
    );
    for (i, l) in spec.links.iter().enumerate() {
        assert_eq!(l.id, LinkId(i as u32));
        assert_eq!(spec.link(l.id), l);
    }
    // Generated and explicit links keep their own properties.
    let chord = &spec.links[1];
    assert_eq!(
        (
            chord.bandwidth_bytes_per_cycle,
            chord.latency_cycles,
            chord.energy_per_bit_pj
        ),
        (4, 9, 1.5)
    );
    let ring_link = &spec.links[0];
    assert_eq!(
        (
            ring_link.bandwidth_bytes_per_cycle,
            ring_link.latency_cycles,
            ring_link.energy_per_bit_pj
        ),
        (8, 50, 5.0)
    );
    assert_eq!(spec.topology, "unidirectional ring of 4");
    assert_eq!(route(&spec, 0, 2), [0, 2]);
}

#[test]
fn table_routing_uses_explicit_routes_and_falls_back_to_shortest_path() {
    // On a bidirectional 4-ring, shortest path from 0 to 2 would be 0, 1, 2.
    let spec = ring(
        4,
        true,
        "[routing]\nkind = \"table\"\nfallback = \"shortest_path\"\n\n[[routing.routes]]\npath = [0, 3, 2]\n\n[[routing.routes]]\npath = [3, 0]\n",
    );
    assert_eq!(route(&spec, 0, 2), [0, 3, 2], "explicit route");
    assert_eq!(route(&spec, 3, 0), [3, 0], "explicit route");
    assert_eq!(route(&spec, 2, 0), [2, 1, 0], "fallback");
    assert_eq!(route(&spec, 1, 3), [1, 0, 3], "fallback");
    // Routes are kept ordered by (source, destination), not by file order.
    assert_eq!(
        spec.routing,
        Routing::Table {
            routes: vec![
                vec![ChipletId(0), ChipletId(3), ChipletId(2)],
                vec![ChipletId(3), ChipletId(0)],
            ],
            fallback_shortest_path: true,
        }
    );
}

#[test]
fn table_routing_without_fallback_accepts_a_complete_table() {
    let routes: String = [
        &[0, 1][..],
        &[1, 2],
        &[2, 0],
        &[0, 1, 2],
        &[1, 2, 0],
        &[2, 0, 1],
    ]
    .iter()
    .map(|p| format!("[[routing.routes]]\npath = {p:?}\n\n"))
    .collect();
    let spec = ring(
        3,
        false,
        &format!("[routing]\nkind = \"table\"\nfallback = \"none\"\n\n{routes}"),
    );
    assert_eq!(route(&spec, 2, 1), [2, 0, 1]);
    assert!(matches!(
        spec.routing,
        Routing::Table { fallback_shortest_path: false, ref routes } if routes.len() == 6
    ));
}

#[test]
fn summary_counts_peak_tops_over_all_chiplets() {
    let two_types = r#"[chiplet_types.small]
macs_per_cycle = 256
array_rows = 16
array_cols = 16
vector_elems_per_cycle = 32
sram_kib = 1024
sram_bandwidth_bytes_per_cycle = 64
op_overhead_cycles = 10
energy_per_mac_pj = 0.1
energy_per_sram_byte_pj = 0.5

[[chiplets]]
id_range = [0, 3]
type = "big"

[[chiplets]]
id_range = [4, 5]
type = "small"
"#;
    let spec = Package {
        chiplets: two_types,
        links: &generator("ring", "bidirectional = true"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .spec();
    assert_eq!(spec.chiplet_type(ChipletId(3)).name, "big");
    assert_eq!(spec.chiplet_type(ChipletId(4)).name, "small");
    assert_eq!(spec.chiplet_type(ChipletId(4)).sram_bytes(), 1024 * 1024);
    let s = spec.summary();
    assert_eq!(s.n_chiplets, 6);
    assert_eq!(s.n_links, 12);
    assert_eq!(s.total_sram_kib, 4 * 8192 + 2 * 1024);
    // 2 ops per MAC × (4 × 4096 + 2 × 256) MACs per cycle × 1000 MHz.
    let expected = 2.0 * (4.0 * 4096.0 + 2.0 * 256.0) * 1000e6 / 1e12;
    assert!(
        (s.peak_tops - expected).abs() < 1e-9,
        "{} vs {expected}",
        s.peak_tops
    );
    assert!((s.peak_tops - 33.792).abs() < 1e-9);
    assert_eq!(s.topology, "bidirectional ring of 6");
}

#[test]
fn memory_all_reaches_every_chiplet() {
    let text = Package {
        chiplets: &chiplets(3),
        links: &generator("ring", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "\"ascending\"",
    }
    .text()
        + "\n[memory]\ncapacity_mib = 1024\nbandwidth_bytes_per_cycle = 64\nlatency_cycles = 200\nenergy_per_byte_pj = 20.0\nweight_streaming = false\nchiplets = \"all\"\n";
    let spec = HwSpec::from_toml_str(&text, "unit.toml").unwrap_or_else(|d| panic!("{d}"));
    let memory = spec.memory.expect("memory is given");
    assert_eq!(ids(&memory.chiplets), [0, 1, 2]);
    assert!(!memory.weight_streaming);
}

#[test]
fn diagnostics_name_file_line_and_field() {
    let bad = Package {
        chiplets: &chiplets(3),
        links: &generator("ring", "bidirectional = false"),
        routing: SHORTEST_PATH,
        pipeline_order: "[0, 1]",
    }
    .text();
    let err = HwSpec::from_toml_str(&bad, "pkg.toml").unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let d = &err.0[0];
    assert_eq!(
        (d.file.as_str(), d.pos.line, d.field.as_str()),
        ("pkg.toml", 5, "pipeline_order")
    );
    assert!(d.message.contains("missing chiplet(s) 2"), "{err}");
}
