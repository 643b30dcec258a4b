//! [`PackageBuilder`]: a hardware spec assembled in code. It writes the parts
//! it was given as spec TOML (with the writers `spec_write` uses) and reads
//! the text back with [`HwSpec::from_toml_str`], so a package built in code
//! passes exactly the validation of a spec file: generators expand, routes are
//! computed, and every mistake (a missing part included) comes back as the
//! reader's diagnostics, all at once.

use toml::{Table, Value};

use super::TestkitError;
use crate::spec::topology::Shape;
use crate::spec::{ChipletId, ChipletType, Constraints, HwSpec, OffPackageMemory, Routing};
use crate::spec_write::{
    chiplet_entry, chiplet_type_table, constraints_table, ids, insert_link_props, int,
    memory_table, routing_table,
};

/// The properties every link of a generator, or one explicit link, carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkProps {
    pub bandwidth_bytes_per_cycle: u64,
    pub latency_cycles: u64,
    pub energy_per_bit_pj: f64,
}

/// A topology generator, as `[[topology]]` in a spec file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Each chiplet to the next, the last to the first (at least 3).
    Ring { bidirectional: bool },
    /// Each chiplet to the next (at least 2).
    Chain { bidirectional: bool },
    /// A grid of `rows × cols`, row-major, neighbours joined both ways; it
    /// places its chiplets at grid positions.
    Mesh { rows: u32, cols: u32 },
    /// A mesh whose rows and columns also wrap (at least 3 × 3).
    Torus { rows: u32, cols: u32 },
    /// Every ordered pair.
    AllToAll,
}

impl Topology {
    /// The reader's own expansion of this generator.
    pub(crate) fn shape(self) -> Shape {
        match self {
            Topology::Ring { bidirectional } => Shape::Line {
                ring: true,
                bidirectional,
            },
            Topology::Chain { bidirectional } => Shape::Line {
                ring: false,
                bidirectional,
            },
            Topology::Mesh { rows, cols } => Shape::Grid {
                rows: rows as usize,
                cols: cols as usize,
                torus: false,
            },
            Topology::Torus { rows, cols } => Shape::Grid {
                rows: rows as usize,
                cols: cols as usize,
                torus: true,
            },
            Topology::AllToAll => Shape::AllToAll,
        }
    }

    /// Whether chiplets of this topology get grid positions (so XY routing
    /// and the snake order apply).
    pub fn is_grid(self) -> bool {
        matches!(self, Topology::Mesh { .. } | Topology::Torus { .. })
    }
}

/// The order of the pipeline stages over the chiplets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineOrder {
    /// Chiplet ids ascending.
    Ascending,
    /// Boustrophedon over grid positions.
    Snake,
    /// A permutation of the chiplet ids.
    Explicit(Vec<ChipletId>),
}

/// A generator and the chiplets it spans (`None`: all).
#[derive(Clone, Debug, PartialEq)]
struct Generator {
    topology: Topology,
    chips: Option<Vec<ChipletId>>,
    link: LinkProps,
}

/// Builds an [`HwSpec`] from parts, validated as a spec file is. Parts not
/// given are missing from the spec and reported as such: nothing has a
/// default but the name, sources and notes.
///
/// ```
/// use sim::spec::{ChipletType, Constraints, NoSkipping, Routing};
/// use sim::testkit::{LinkProps, PackageBuilder, PipelineOrder, Topology};
///
/// let small = ChipletType {
///     name: "small".to_string(),
///     macs_per_cycle: 16,
///     array_rows: 4,
///     array_cols: 4,
///     vector_elems_per_cycle: 4,
///     sram_kib: 64,
///     sram_bandwidth_bytes_per_cycle: 64,
///     op_overhead_cycles: 1,
///     energy_per_mac_pj: 0.5,
///     energy_per_sram_byte_pj: 0.25,
/// };
/// let link = LinkProps { bandwidth_bytes_per_cycle: 4, latency_cycles: 1, energy_per_bit_pj: 1.0 };
/// let spec = PackageBuilder::new("ring4")
///     .clock_mhz(1000.0)
///     .chiplet_type(small)
///     .chiplets(4, "small")
///     .topology(Topology::Ring { bidirectional: true }, link)
///     .routing(Routing::ShortestPath)
///     .pipeline_order(PipelineOrder::Ascending)
///     .constraints(Constraints {
///         acyclic_dataflow: true,
///         no_skipping: NoSkipping::Edge,
///         no_triangle: false,
///         sram_capacity: true,
///     })
///     .build()
///     .unwrap();
/// assert_eq!((spec.n_chiplets(), spec.links.len()), (4, 8));
/// assert_eq!(spec.topology, "bidirectional ring of 4");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PackageBuilder {
    name: String,
    clock_mhz: Option<f64>,
    types: Vec<ChipletType>,
    /// Type name and position of each chiplet, by id.
    chiplets: Vec<(String, Option<[u32; 2]>)>,
    generators: Vec<Generator>,
    links: Vec<(ChipletId, ChipletId, LinkProps)>,
    routing: Option<Routing>,
    memory: Option<OffPackageMemory>,
    pipeline_order: Option<PipelineOrder>,
    constraints: Option<Constraints>,
}

impl PackageBuilder {
    /// An empty package named `name`.
    pub fn new(name: impl Into<String>) -> PackageBuilder {
        PackageBuilder {
            name: name.into(),
            clock_mhz: None,
            types: Vec::new(),
            chiplets: Vec::new(),
            generators: Vec::new(),
            links: Vec::new(),
            routing: None,
            memory: None,
            pipeline_order: None,
            constraints: None,
        }
    }

    pub fn clock_mhz(mut self, clock_mhz: f64) -> PackageBuilder {
        self.clock_mhz = Some(clock_mhz);
        self
    }

    /// Adds a chiplet type (its name is how chiplets refer to it).
    pub fn chiplet_type(mut self, ty: ChipletType) -> PackageBuilder {
        self.types.push(ty);
        self
    }

    /// Adds `n` chiplets of type `type_name`, with the next ids.
    pub fn chiplets(mut self, n: u32, type_name: &str) -> PackageBuilder {
        for _ in 0..n {
            self.chiplets.push((type_name.to_string(), None));
        }
        self
    }

    /// Adds one chiplet of type `type_name` at grid position `[row, col]`.
    pub fn chiplet_at(mut self, type_name: &str, position: [u32; 2]) -> PackageBuilder {
        self.chiplets.push((type_name.to_string(), Some(position)));
        self
    }

    /// Adds a generator over every chiplet.
    pub fn topology(mut self, topology: Topology, link: LinkProps) -> PackageBuilder {
        self.generators.push(Generator {
            topology,
            chips: None,
            link,
        });
        self
    }

    /// Adds a generator over `chips`, in that order.
    pub fn topology_over(
        mut self,
        topology: Topology,
        chips: &[ChipletId],
        link: LinkProps,
    ) -> PackageBuilder {
        self.generators.push(Generator {
            topology,
            chips: Some(chips.to_vec()),
            link,
        });
        self
    }

    /// Adds an explicit directed link.
    pub fn link(mut self, from: ChipletId, to: ChipletId, link: LinkProps) -> PackageBuilder {
        self.links.push((from, to, link));
        self
    }

    pub fn routing(mut self, routing: Routing) -> PackageBuilder {
        self.routing = Some(routing);
        self
    }

    pub fn memory(mut self, memory: OffPackageMemory) -> PackageBuilder {
        self.memory = Some(memory);
        self
    }

    pub fn pipeline_order(mut self, order: PipelineOrder) -> PackageBuilder {
        self.pipeline_order = Some(order);
        self
    }

    pub fn constraints(mut self, constraints: Constraints) -> PackageBuilder {
        self.constraints = Some(constraints);
        self
    }

    /// Every integer to be written that TOML cannot hold, first one first.
    fn check_numbers(&self) -> Result<(), TestkitError> {
        let mut numbers: Vec<(String, u64)> = Vec::new();
        for ty in &self.types {
            let field = |key: &str| format!("chiplet_types.{}.{key}", ty.name);
            numbers.extend([
                (field("macs_per_cycle"), ty.macs_per_cycle),
                (field("array_rows"), ty.array_rows),
                (field("array_cols"), ty.array_cols),
                (field("vector_elems_per_cycle"), ty.vector_elems_per_cycle),
                (field("sram_kib"), ty.sram_kib),
                (
                    field("sram_bandwidth_bytes_per_cycle"),
                    ty.sram_bandwidth_bytes_per_cycle,
                ),
                (field("op_overhead_cycles"), ty.op_overhead_cycles),
            ]);
        }
        let props = self
            .generators
            .iter()
            .map(|g| ("topology", g.link))
            .chain(self.links.iter().map(|l| ("links", l.2)));
        for (i, (what, p)) in props.enumerate() {
            numbers.push((
                format!("{what}[{i}].bandwidth_bytes_per_cycle"),
                p.bandwidth_bytes_per_cycle,
            ));
            numbers.push((format!("{what}[{i}].latency_cycles"), p.latency_cycles));
        }
        if let Some(m) = &self.memory {
            numbers.extend([
                ("memory.capacity_mib".to_string(), m.capacity_mib),
                (
                    "memory.bandwidth_bytes_per_cycle".to_string(),
                    m.bandwidth_bytes_per_cycle,
                ),
                ("memory.latency_cycles".to_string(), m.latency_cycles),
            ]);
        }
        match numbers
            .into_iter()
            .find(|(_, v)| i64::try_from(*v).is_err())
        {
            Some((field, value)) => Err(TestkitError::NumberTooLarge { field, value }),
            None => Ok(()),
        }
    }

    /// The spec as TOML text, as [`PackageBuilder::build`] reads it.
    pub fn to_toml(&self) -> Result<String, TestkitError> {
        self.check_numbers()?;
        let mut t = Table::new();
        t.insert("name".into(), Value::String(self.name.clone()));
        t.insert(
            "source".into(),
            Value::Array(vec![Value::String("sim::testkit::PackageBuilder".into())]),
        );
        t.insert(
            "notes".into(),
            Value::String("built in code by sim::testkit::PackageBuilder".into()),
        );
        if let Some(clock) = self.clock_mhz {
            t.insert("clock_mhz".into(), Value::Float(clock));
        }
        if let Some(order) = &self.pipeline_order {
            let v = match order {
                PipelineOrder::Ascending => Value::String("ascending".into()),
                PipelineOrder::Snake => Value::String("snake".into()),
                PipelineOrder::Explicit(order) => ids(order),
            };
            t.insert("pipeline_order".into(), v);
        }
        if !self.types.is_empty() {
            let mut types = Table::new();
            for ty in &self.types {
                types.insert(ty.name.clone(), Value::Table(chiplet_type_table(ty)));
            }
            t.insert("chiplet_types".into(), Value::Table(types));
        }
        if !self.chiplets.is_empty() {
            let entries = self
                .chiplets
                .iter()
                .enumerate()
                .map(|(i, (ty, pos))| chiplet_entry(ChipletId(i as u32), ty, *pos))
                .collect();
            t.insert("chiplets".into(), Value::Array(entries));
        }
        if !self.generators.is_empty() {
            let gens = self.generators.iter().map(generator_table).collect();
            t.insert("topology".into(), Value::Array(gens));
        }
        if !self.links.is_empty() {
            let links = self
                .links
                .iter()
                .map(|(from, to, p)| {
                    let mut x = Table::new();
                    x.insert("from".into(), int(from.0 as u64));
                    x.insert("to".into(), int(to.0 as u64));
                    insert_link_props(
                        &mut x,
                        p.bandwidth_bytes_per_cycle,
                        p.latency_cycles,
                        p.energy_per_bit_pj,
                    );
                    Value::Table(x)
                })
                .collect();
            t.insert("links".into(), Value::Array(links));
        }
        if let Some(r) = &self.routing {
            t.insert("routing".into(), Value::Table(routing_table(r)));
        }
        if let Some(m) = &self.memory {
            t.insert("memory".into(), Value::Table(memory_table(m)));
        }
        if let Some(c) = &self.constraints {
            t.insert("constraints".into(), Value::Table(constraints_table(c)));
        }
        Ok(toml::to_string(&t).expect("a TOML table serialises"))
    }

    /// Writes the spec and reads it back: the validated spec, or every
    /// problem the reader found.
    pub fn build(&self) -> Result<HwSpec, TestkitError> {
        let text = self.to_toml()?;
        let file = format!("<PackageBuilder {}>", self.name);
        HwSpec::from_toml_str(&text, &file).map_err(|diagnostics| TestkitError::Spec {
            toml: text,
            diagnostics,
        })
    }
}

/// One `[[topology]]` entry.
fn generator_table(g: &Generator) -> Value {
    let mut x = Table::new();
    x.insert(
        "kind".into(),
        Value::String(g.topology.shape().kind().into()),
    );
    match g.topology {
        Topology::Ring { bidirectional } | Topology::Chain { bidirectional } => {
            x.insert("bidirectional".into(), Value::Boolean(bidirectional));
        }
        Topology::Mesh { rows, cols } | Topology::Torus { rows, cols } => {
            x.insert("rows".into(), int(rows as u64));
            x.insert("cols".into(), int(cols as u64));
        }
        Topology::AllToAll => {}
    }
    if let Some(chips) = &g.chips {
        x.insert("chips".into(), ids(chips));
    }
    let p = g.link;
    insert_link_props(
        &mut x,
        p.bandwidth_bytes_per_cycle,
        p.latency_cycles,
        p.energy_per_bit_pj,
    );
    Value::Table(x)
}
