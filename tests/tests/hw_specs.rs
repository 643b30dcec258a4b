//! The hardware spec library (`hw_specs/*.toml`): every file parses, and each file
//! states the facts its sources give (chip counts, array sizes, SRAM, topology, routes,
//! memory, constraints).

use std::path::{Path, PathBuf};

use sim::spec::{ChipletId, HwSpec, NoSkipping, Routing};

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../hw_specs");

/// Every `*.toml` in the library, sorted by file name so runs are deterministic.
fn spec_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(SPEC_DIR)
        .unwrap_or_else(|e| panic!("cannot list {SPEC_DIR}: {e}"))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn parse(path: &Path) -> Result<HwSpec, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    HwSpec::from_toml_str(&text, &path.display().to_string()).map_err(|d| d.to_string())
}

/// Loads `hw_specs/<name>.toml`, panicking with the diagnostics if it does not parse.
fn load(name: &str) -> HwSpec {
    let path = Path::new(SPEC_DIR).join(format!("{name}.toml"));
    parse(&path).unwrap_or_else(|e| panic!("{name}.toml does not parse:\n{e}"))
}

/// The chips a route visits, source and destination included.
fn route_chips(spec: &HwSpec, src: u32, dst: u32) -> Vec<u32> {
    let mut chips = vec![src];
    for &link in spec.routes.path(ChipletId(src), ChipletId(dst)) {
        let l = spec.link(link);
        assert_eq!(
            l.from.0,
            *chips.last().expect("non-empty"),
            "route {src} → {dst} in {} is not a chain of links",
            spec.name
        );
        chips.push(l.to.0);
    }
    chips
}

fn hops(spec: &HwSpec, src: u32, dst: u32) -> usize {
    spec.routes.path(ChipletId(src), ChipletId(dst)).len()
}

fn ids(order: &[ChipletId]) -> Vec<u32> {
    order.iter().map(|c| c.0).collect()
}

#[test]
fn every_spec_in_the_library_parses_and_cites_its_sources() {
    let files = spec_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            p.file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "dram_weight_streaming",
        "edgetpu_ring16",
        "edgetpu_ring4",
        "edgetpu_ring8",
        "hetero_2type",
        "mesh_4x4",
        "simba_6x6",
        "ucie_2p5d",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected}.toml is missing from {SPEC_DIR}; found {names:?}"
        );
    }
    let mut failures = Vec::new();
    for (path, stem) in files.iter().zip(&names) {
        match parse(path) {
            Ok(spec) => {
                assert_eq!(
                    &spec.name,
                    stem,
                    "{}: `name` should match the file name",
                    path.display()
                );
                assert!(
                    !spec.source.is_empty() && spec.source.iter().all(|s| !s.trim().is_empty())
                );
                assert!(
                    !spec.notes.trim().is_empty(),
                    "{}: empty notes",
                    path.display()
                );
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "specs that do not parse:\n{}",
        failures.join("\n")
    );
}

#[test]
fn simba_is_a_6x6_mesh_of_1024_mac_chiplets_with_752_kib() {
    let spec = load("simba_6x6");
    assert_eq!(spec.n_chiplets(), 36);
    assert_eq!(spec.chiplet_types.len(), 1);
    let ty = &spec.chiplet_types[0];
    assert_eq!(
        (ty.macs_per_cycle, ty.array_rows, ty.array_cols),
        (1024, 32, 32)
    );
    // 16 PEs × (32 + 8 + 3) KiB + 64 KiB global buffer.
    assert_eq!(ty.sram_kib, 16 * (32 + 8 + 3) + 64);
    assert_eq!(ty.sram_kib, 752);
    for c in &spec.chiplets {
        assert_eq!(
            c.position,
            Some([c.id.0 / 6, c.id.0 % 6]),
            "chiplet {}",
            c.id
        );
    }
    // 6 rows × 5 horizontal edges + 5 × 6 vertical edges, both directions.
    assert_eq!(spec.links.len(), 2 * (6 * 5 + 5 * 6));
    assert_eq!(spec.routing, Routing::Xy);
    // Corner to corner: 5 hops along row 0, then 5 down column 5.
    assert_eq!(hops(&spec, 0, 35), 10);
    assert_eq!(
        route_chips(&spec, 0, 35),
        [0, 1, 2, 3, 4, 5, 11, 17, 23, 29, 35]
    );
    assert_eq!(hops(&spec, 35, 0), 10);
    assert_eq!(
        ids(&spec.pipeline_order[..12]),
        [0, 1, 2, 3, 4, 5, 11, 10, 9, 8, 7, 6]
    );
    let summary = spec.summary();
    assert_eq!(summary.total_sram_kib, 36 * 752);
    assert!(
        (summary.peak_tops - 132.7104).abs() < 1e-9,
        "{}",
        summary.peak_tops
    );
    assert!(spec.memory.is_none());
}

#[test]
fn edgetpu_rings_are_unidirectional_with_shared_streaming_memory() {
    for n in [4u32, 8, 16] {
        let spec = load(&format!("edgetpu_ring{n}"));
        assert_eq!(spec.n_chiplets(), n as usize);
        assert_eq!(spec.links.len(), n as usize, "one outgoing link per chip");
        assert_eq!(spec.topology, format!("unidirectional ring of {n}"));
        assert_eq!(hops(&spec, 0, 1), 1);
        assert_eq!(
            hops(&spec, 1, 0),
            n as usize - 1,
            "1 → 0 goes all the way round"
        );
        assert_eq!(hops(&spec, n - 1, 0), 1);
        let ty = &spec.chiplet_types[0];
        assert_eq!((ty.array_rows, ty.array_cols, ty.sram_kib), (64, 64, 8192));
        let mem = spec.memory.as_ref().expect("off-package memory");
        assert!(mem.weight_streaming);
        assert_eq!(ids(&mem.chiplets), (0..n).collect::<Vec<_>>());
        // BERT-base's word embeddings (30522 × 768 int8) exceed one chip's SRAM but fit in memory.
        let embedding_bytes = 30522u64 * 768;
        assert!(embedding_bytes > ty.sram_bytes());
        assert!(embedding_bytes < mem.capacity_mib * 1024 * 1024);
        let c = spec.constraints;
        assert!(c.acyclic_dataflow && c.no_triangle && c.sram_capacity);
        assert_eq!(c.no_skipping, NoSkipping::Edge);
        assert_eq!(ids(&spec.pipeline_order), (0..n).collect::<Vec<_>>());
        // ≈ 4 TOPS per chip, as Coral publishes.
        let per_chip = spec.summary().peak_tops / f64::from(n);
        assert!((per_chip - 4.0).abs() < 0.1, "{per_chip} TOPS per chip");
    }
}

#[test]
fn hetero_package_has_two_chiplet_types_and_a_linked_pipeline_order() {
    let spec = load("hetero_2type");
    assert_eq!(spec.chiplet_types.len(), 2);
    let names: Vec<&str> = spec.chiplet_types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["compute", "vecmem"]);
    let type_of = |id: u32| spec.chiplet_type(ChipletId(id)).name.as_str();
    assert!((0..4).all(|id| type_of(id) == "compute"));
    assert!((4..8).all(|id| type_of(id) == "vecmem"));
    let (compute, vecmem) = (&spec.chiplet_types[0], &spec.chiplet_types[1]);
    assert!(compute.macs_per_cycle > vecmem.macs_per_cycle);
    assert!(vecmem.sram_kib > compute.sram_kib);
    assert_eq!(spec.routing, Routing::ShortestPath);
    assert_eq!(spec.links.len(), 20);
    assert_eq!(ids(&spec.pipeline_order), [4, 0, 1, 5, 6, 2, 3, 7]);
    for pair in spec.pipeline_order.windows(2) {
        assert_eq!(
            hops(&spec, pair[0].0, pair[1].0),
            1,
            "{} → {}",
            pair[0],
            pair[1]
        );
    }
    // Shortest path ties go to the smallest chip sequence: 0 → 5 via 1, not via 4.
    assert_eq!(route_chips(&spec, 0, 5), [0, 1, 5]);
}

#[test]
fn dram_package_streams_weights_through_two_ported_chiplets() {
    let spec = load("dram_weight_streaming");
    assert_eq!(spec.n_chiplets(), 8);
    assert_eq!(spec.topology, "bidirectional ring of 8");
    assert_eq!(spec.links.len(), 16);
    assert_eq!(hops(&spec, 0, 7), 1);
    assert_eq!(hops(&spec, 0, 4), 4);
    assert_eq!(
        route_chips(&spec, 0, 4),
        [0, 1, 2, 3, 4],
        "tie goes to the smaller sequence"
    );
    let mem = spec.memory.as_ref().expect("off-package memory");
    assert!(mem.weight_streaming);
    assert_eq!(ids(&mem.chiplets), [0, 4]);
    let total_sram_kib = spec.summary().total_sram_kib;
    assert!(
        mem.capacity_mib * 1024 > 100 * total_sram_kib,
        "DRAM dwarfs the SRAM"
    );
    assert_eq!(spec.constraints.no_skipping, NoSkipping::Prefix);
}

#[test]
fn ucie_package_differs_from_mesh_4x4_only_in_faster_links() {
    let grs = load("mesh_4x4");
    let ucie = load("ucie_2p5d");
    for spec in [&grs, &ucie] {
        assert_eq!(spec.n_chiplets(), 16);
        assert_eq!(spec.topology, "mesh 4x4");
        assert_eq!(spec.links.len(), 48);
        assert_eq!(spec.routing, Routing::Xy);
        assert_eq!(hops(spec, 0, 15), 6);
        assert_eq!(
            ids(&spec.pipeline_order),
            [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11, 15, 14, 13, 12]
        );
    }
    assert_eq!(grs.chiplet_types, ucie.chiplet_types);
    assert_eq!(grs.clock_mhz, ucie.clock_mhz);
    assert_eq!(grs.constraints, ucie.constraints);
    for (g, u) in grs.links.iter().zip(&ucie.links) {
        assert_eq!((g.from, g.to), (u.from, u.to));
        assert!(u.bandwidth_bytes_per_cycle > 4 * g.bandwidth_bytes_per_cycle);
        assert!(u.latency_cycles < g.latency_cycles);
        assert!(u.energy_per_bit_pj < g.energy_per_bit_pj);
    }
}
