//! Random packages: a [`PackageSpace`] says what may be drawn (how many
//! chiplets, which topologies, chiplet types, links, extra links, memory,
//! pipeline order); a draw is a [`PackageRecipe`], plain data that builds one
//! [`HwSpec`] through [`PackageBuilder`].
//!
//! A drawn topology always fits the drawn chiplet count: a kind the count
//! cannot form (a ring of 2, a torus of 8) is not offered, a grid's rows are
//! drawn among the divisors of the count, and a package of one chiplet (or
//! with no kind left) has no generator. Extra links that would repeat a link
//! or loop on a chiplet are left out. Grids route XY, everything else by
//! shortest path.

use rand_chacha::ChaCha8Rng;

use super::draw::Draw;
use super::{LinkProps, PackageBuilder, PipelineOrder, TestkitError, Topology, nonempty};
use crate::spec::{ChipletId, ChipletType, Constraints, HwSpec, OffPackageMemory, Routing};

/// A kind of topology, sized when drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyKind {
    Ring { bidirectional: bool },
    Chain { bidirectional: bool },
    Mesh,
    Torus,
    AllToAll,
}

impl TopologyKind {
    /// Every kind that joins every chiplet pair by itself: all but the
    /// unidirectional chain, whose last chiplet reaches no other (it makes a
    /// valid package only with links that close it).
    pub const CONNECTED: [TopologyKind; 6] = [
        TopologyKind::Ring {
            bidirectional: false,
        },
        TopologyKind::Ring {
            bidirectional: true,
        },
        TopologyKind::Chain {
            bidirectional: true,
        },
        TopologyKind::Mesh,
        TopologyKind::Torus,
        TopologyKind::AllToAll,
    ];
}

/// Choices for one chiplet type: a square systolic array of a drawn side
/// (so `macs_per_cycle` is its square) and the other numbers drawn alike.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeSpace {
    pub array_sides: Vec<u64>,
    pub vector_elems_per_cycle: Vec<u64>,
    pub sram_kib: Vec<u64>,
    pub sram_bandwidth_bytes_per_cycle: Vec<u64>,
    pub op_overhead_cycles: Vec<u64>,
    pub energy_per_mac_pj: f64,
    pub energy_per_sram_byte_pj: f64,
}

/// Choices for links.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpace {
    pub bandwidth_bytes_per_cycle: Vec<u64>,
    pub latency_cycles: Vec<u64>,
    pub energy_per_bit_pj: f64,
}

/// Which chiplets reach off-package memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryReach {
    /// No memory at all.
    None,
    /// Every chiplet.
    All,
    /// Chiplet 0 only.
    First,
}

/// Choices for off-package memory.
#[derive(Clone, Debug, PartialEq)]
pub struct MemorySpace {
    pub reach: Vec<MemoryReach>,
    pub capacity_mib: Vec<u64>,
    pub bandwidth_bytes_per_cycle: Vec<u64>,
    pub latency_cycles: Vec<u64>,
    pub energy_per_byte_pj: f64,
    pub weight_streaming: Vec<bool>,
}

/// What random packages may be drawn: every list is a set of choices
/// (repeat a value to weight it).
#[derive(Clone, Debug, PartialEq)]
pub struct PackageSpace {
    pub clock_mhz: f64,
    pub n_chiplets: Vec<u32>,
    pub topologies: Vec<TopologyKind>,
    /// The package's chiplet types, one drawn from each space.
    pub types: Vec<TypeSpace>,
    /// Whether each chiplet draws its type (`true`) or all have the first.
    pub heterogeneous: Vec<bool>,
    /// The generator's links.
    pub link: LinkSpace,
    /// How many extra random links to try adding.
    pub extra_links: Vec<usize>,
    pub extra_link: LinkSpace,
    pub memory: Option<MemorySpace>,
    /// Whether the pipeline order is a drawn permutation (`true`) or ascending.
    pub shuffled_order: Vec<bool>,
    pub constraints: Constraints,
}

/// A package to build: plain data, to be edited before building if a test
/// needs (say, an SRAM size that depends on the graph).
#[derive(Clone, Debug, PartialEq)]
pub struct PackageRecipe {
    pub clock_mhz: f64,
    /// Named `t0`, `t1`, ...
    pub types: Vec<ChipletType>,
    /// Index into `types` of each chiplet, by id.
    pub chiplet_types: Vec<usize>,
    /// The generator over every chiplet, if any.
    pub topology: Option<(Topology, LinkProps)>,
    pub extra_links: Vec<(ChipletId, ChipletId, LinkProps)>,
    pub memory: Option<OffPackageMemory>,
    /// A permutation of the chiplet ids.
    pub pipeline_order: Vec<ChipletId>,
    pub constraints: Constraints,
}

impl PackageRecipe {
    /// `n` chiplets of type `ty` at `clock_mhz`, joined by `topology` over all
    /// of them (none: no links), in ascending pipeline order, without memory.
    pub fn uniform(
        n: u32,
        clock_mhz: f64,
        ty: ChipletType,
        topology: Option<(Topology, LinkProps)>,
        constraints: Constraints,
    ) -> PackageRecipe {
        PackageRecipe {
            clock_mhz,
            types: vec![ty],
            chiplet_types: vec![0; n as usize],
            topology,
            extra_links: Vec::new(),
            memory: None,
            pipeline_order: (0..n).map(ChipletId).collect(),
            constraints,
        }
    }

    pub fn n_chiplets(&self) -> usize {
        self.chiplet_types.len()
    }

    /// A builder holding every part of the recipe.
    pub fn builder(&self) -> PackageBuilder {
        let mut b = PackageBuilder::new("testkit-package").clock_mhz(self.clock_mhz);
        for ty in &self.types {
            b = b.chiplet_type(ty.clone());
        }
        for &t in &self.chiplet_types {
            b = b.chiplets(1, &self.types[t].name);
        }
        let mut routing = Routing::ShortestPath;
        if let Some((topology, link)) = self.topology {
            b = b.topology(topology, link);
            if topology.is_grid() {
                routing = Routing::Xy;
            }
        }
        for &(from, to, link) in &self.extra_links {
            b = b.link(from, to, link);
        }
        if let Some(m) = &self.memory {
            b = b.memory(m.clone());
        }
        b.routing(routing)
            .pipeline_order(PipelineOrder::Explicit(self.pipeline_order.clone()))
            .constraints(self.constraints)
    }

    pub fn build(&self) -> Result<HwSpec, TestkitError> {
        self.builder().build()
    }
}

/// Divisors of `n`, ascending.
fn divisors(n: u32) -> Vec<u32> {
    (1..=n).filter(|&d| n.is_multiple_of(d)).collect()
}

/// The topology of `kind` over `n` chiplets, if `n` can form one, with
/// choices for a grid's shape.
fn sized(kind: TopologyKind, n: u32, d: &mut impl Draw) -> Option<Topology> {
    match kind {
        TopologyKind::Ring { bidirectional } => {
            (n >= 3).then_some(Topology::Ring { bidirectional })
        }
        TopologyKind::Chain { bidirectional } => {
            (n >= 2).then_some(Topology::Chain { bidirectional })
        }
        TopologyKind::AllToAll => (n >= 2).then_some(Topology::AllToAll),
        TopologyKind::Mesh => {
            let rows = divisors(n);
            let r = *d.choose(&rows);
            (n >= 2).then_some(Topology::Mesh {
                rows: r,
                cols: n / r,
            })
        }
        TopologyKind::Torus => {
            let rows: Vec<u32> = divisors(n)
                .into_iter()
                .filter(|&r| r >= 3 && n / r >= 3)
                .collect();
            (!rows.is_empty()).then(|| {
                let r = *d.choose(&rows);
                Topology::Torus {
                    rows: r,
                    cols: n / r,
                }
            })
        }
    }
}

fn draw_type(name: String, s: &TypeSpace, d: &mut impl Draw) -> ChipletType {
    let side = *d.choose(&s.array_sides);
    ChipletType {
        name,
        macs_per_cycle: side.saturating_mul(side),
        array_rows: side,
        array_cols: side,
        vector_elems_per_cycle: *d.choose(&s.vector_elems_per_cycle),
        sram_kib: *d.choose(&s.sram_kib),
        sram_bandwidth_bytes_per_cycle: *d.choose(&s.sram_bandwidth_bytes_per_cycle),
        op_overhead_cycles: *d.choose(&s.op_overhead_cycles),
        energy_per_mac_pj: s.energy_per_mac_pj,
        energy_per_sram_byte_pj: s.energy_per_sram_byte_pj,
    }
}

fn draw_link(s: &LinkSpace, d: &mut impl Draw) -> LinkProps {
    LinkProps {
        bandwidth_bytes_per_cycle: *d.choose(&s.bandwidth_bytes_per_cycle),
        latency_cycles: *d.choose(&s.latency_cycles),
        energy_per_bit_pj: s.energy_per_bit_pj,
    }
}

impl PackageSpace {
    /// Every kind of package the kit draws: 1 to 12 chiplets, every
    /// connected topology, one or two chiplet types (SRAM from 1 KiB, so
    /// SRAM binds), extra links, off-package memory reaching none, all or
    /// the first chiplet (streaming or not), ascending or shuffled pipeline
    /// orders; acyclic dataflow and SRAM capacity on.
    pub fn broad() -> PackageSpace {
        let types = |sram_kib: &[u64]| TypeSpace {
            array_sides: vec![4, 16],
            vector_elems_per_cycle: vec![4, 16],
            sram_kib: sram_kib.to_vec(),
            sram_bandwidth_bytes_per_cycle: vec![16, 64],
            op_overhead_cycles: vec![0, 10],
            energy_per_mac_pj: 1.0,
            energy_per_sram_byte_pj: 1.0,
        };
        let links = || LinkSpace {
            bandwidth_bytes_per_cycle: vec![1, 4, 32],
            latency_cycles: vec![0, 3],
            energy_per_bit_pj: 1.0,
        };
        PackageSpace {
            clock_mhz: 1000.0,
            n_chiplets: (1..=12).collect(),
            topologies: TopologyKind::CONNECTED.to_vec(),
            types: vec![types(&[1, 64]), types(&[2, 128])],
            heterogeneous: vec![false, true],
            link: links(),
            extra_links: vec![0, 3],
            extra_link: links(),
            memory: Some(MemorySpace {
                reach: vec![MemoryReach::None, MemoryReach::All, MemoryReach::First],
                capacity_mib: vec![64],
                bandwidth_bytes_per_cycle: vec![8],
                latency_cycles: vec![20],
                energy_per_byte_pj: 1.0,
                weight_streaming: vec![true, false],
            }),
            shuffled_order: vec![false, true],
            constraints: Constraints {
                acyclic_dataflow: true,
                no_skipping: crate::spec::NoSkipping::Off,
                no_triangle: false,
                sram_capacity: true,
            },
        }
    }

    /// Checks that every list can be drawn from.
    pub fn check(&self) -> Result<(), TestkitError> {
        nonempty("n_chiplets", &self.n_chiplets)?;
        if self.n_chiplets.contains(&0) {
            return Err(TestkitError::Space {
                field: "n_chiplets",
                problem: "a package needs at least one chiplet",
            });
        }
        nonempty("types", &self.types)?;
        for t in &self.types {
            nonempty("types.array_sides", &t.array_sides)?;
            nonempty("types.vector_elems_per_cycle", &t.vector_elems_per_cycle)?;
            nonempty("types.sram_kib", &t.sram_kib)?;
            nonempty(
                "types.sram_bandwidth_bytes_per_cycle",
                &t.sram_bandwidth_bytes_per_cycle,
            )?;
            nonempty("types.op_overhead_cycles", &t.op_overhead_cycles)?;
        }
        nonempty("heterogeneous", &self.heterogeneous)?;
        for (field, l) in [("link", &self.link), ("extra_link", &self.extra_link)] {
            nonempty(field, &l.bandwidth_bytes_per_cycle)?;
            nonempty(field, &l.latency_cycles)?;
        }
        nonempty("extra_links", &self.extra_links)?;
        if let Some(m) = &self.memory {
            nonempty("memory.reach", &m.reach)?;
            nonempty("memory.capacity_mib", &m.capacity_mib)?;
            nonempty(
                "memory.bandwidth_bytes_per_cycle",
                &m.bandwidth_bytes_per_cycle,
            )?;
            nonempty("memory.latency_cycles", &m.latency_cycles)?;
            nonempty("memory.weight_streaming", &m.weight_streaming)?;
        }
        nonempty("shuffled_order", &self.shuffled_order)?;
        Ok(())
    }

    /// Draws a recipe with a seeded generator.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Result<PackageRecipe, TestkitError> {
        self.check()?;
        Ok(self.draw(rng))
    }

    /// At most how many choices one draw takes.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn max_draws(&self) -> usize {
        let n = self.n_chiplets.iter().copied().max().unwrap_or(0) as usize;
        let extra = self.extra_links.iter().copied().max().unwrap_or(0);
        8 + 5 * self.types.len() + 2 * n + 4 * extra + 6
    }

    /// Draws a recipe from a checked space.
    pub(crate) fn draw(&self, d: &mut impl Draw) -> PackageRecipe {
        let n = *d.choose(&self.n_chiplets);
        let kinds: Vec<TopologyKind> = self
            .topologies
            .iter()
            .copied()
            .filter(|&k| sized(k, n, &mut Picks0).is_some())
            .collect();
        let topology = (!kinds.is_empty()).then(|| {
            let kind = *d.choose(&kinds);
            let t = sized(kind, n, d).expect("filtered to kinds that fit");
            (t, draw_link(&self.link, d))
        });
        let types: Vec<ChipletType> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, s)| draw_type(format!("t{i}"), s, d))
            .collect();
        let heterogeneous = *d.choose(&self.heterogeneous);
        let chiplet_types = (0..n)
            .map(|_| {
                if heterogeneous {
                    d.below(types.len())
                } else {
                    0
                }
            })
            .collect();
        let mut taken: Vec<(u64, u64)> = topology
            .map(|(t, _)| t.shape().pairs(&(0..n as u64).collect::<Vec<u64>>()))
            .unwrap_or_default();
        let mut extra_links = Vec::new();
        for _ in 0..*d.choose(&self.extra_links) {
            let (from, to) = (d.below(n as usize) as u64, d.below(n as usize) as u64);
            let link = draw_link(&self.extra_link, d);
            if from != to && !taken.contains(&(from, to)) {
                taken.push((from, to));
                extra_links.push((ChipletId(from as u32), ChipletId(to as u32), link));
            }
        }
        let memory = self.memory.as_ref().and_then(|m| {
            let chiplets = match *d.choose(&m.reach) {
                MemoryReach::None => return None,
                MemoryReach::All => (0..n).map(ChipletId).collect(),
                MemoryReach::First => vec![ChipletId(0)],
            };
            Some(OffPackageMemory {
                capacity_mib: *d.choose(&m.capacity_mib),
                bandwidth_bytes_per_cycle: *d.choose(&m.bandwidth_bytes_per_cycle),
                latency_cycles: *d.choose(&m.latency_cycles),
                energy_per_byte_pj: m.energy_per_byte_pj,
                chiplets,
                weight_streaming: *d.choose(&m.weight_streaming),
            })
        });
        let mut pipeline_order: Vec<ChipletId> = (0..n).map(ChipletId).collect();
        if *d.choose(&self.shuffled_order) {
            // Position i takes one of the ids not yet placed; all-zero
            // choices leave the order ascending.
            for i in 0..pipeline_order.len() {
                let j = i + d.below(pipeline_order.len() - i);
                pipeline_order.swap(i, j);
            }
        }
        PackageRecipe {
            clock_mhz: self.clock_mhz,
            types,
            chiplet_types,
            topology,
            extra_links,
            memory,
            pipeline_order,
            constraints: self.constraints,
        }
    }
}

/// Choices that are always the first: used to ask whether a kind fits a
/// count at all, without spending a draw.
struct Picks0;

impl Draw for Picks0 {
    fn below(&mut self, _n: usize) -> usize {
        0
    }

    fn any(&mut self) -> usize {
        0
    }
}

/// A random package from `space`, drawn with `rng`.
pub fn random_package(space: &PackageSpace, rng: &mut ChaCha8Rng) -> Result<HwSpec, TestkitError> {
    space.sample(rng)?.build()
}
