//! The op table: every ONNX op tessera imports, with the function that lowers
//! it, gathered from one file per op family. The walk (`Importer::op`) looks a
//! node's op type up here; [`SUPPORTED_OPS`] (and so the refusal messages and
//! the check that `docs/onnx.md` documents every op), and which ops are views
//! for the fusion plan and the column views, are read off the same table, so
//! an op is supported exactly where it has a handler.
//!
//! A family file declares its ops as `OPS`; [`FAMILIES`] lists the files in
//! the order the docs present them, which is the order of [`SUPPORTED_OPS`].
//! A handler receives the walk's state and the node ([`Node`]) and returns the
//! node's outputs: a lowered activation, a folded static value, or an optional
//! output tessera does not model.

mod conv;
mod elementwise;
mod fold;
mod matmul;
mod movement;
mod normalise;
mod pool;
mod reduce;
mod structure;
mod vector;
mod views;
mod window;

use crate::NodeRef;
use crate::import::Importer;
use crate::proto::NodeProto;
use crate::reader::Attrs;
use crate::value::{R, State, Value, invalid, union};

/// How an op's node is lowered.
#[derive(Clone, Copy)]
pub enum Lower {
    /// A handler for an op with one output.
    One(fn(&mut Importer<'_>, &Node<'_>) -> R<Value>),
    /// A handler for an op with several outputs, in order (optional outputs
    /// tessera does not model included).
    Many(fn(&mut Importer<'_>, &Node<'_>) -> R<Vec<Value>>),
}

/// What an op does to the data of its input 0, for the passes that look
/// through views: the fusion plan (`fuse.rs`) and the column views
/// (`cols.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Computes new data.
    No,
    /// Only changes how input 0 is seen (its shape or element type), so a
    /// reader may read input 0's tensor with the output's shape.
    Reshape,
    /// Permutes input 0's dims (Transpose): a view only where the fusion plan
    /// makes it one.
    Permute,
}

/// One entry of the table.
#[derive(Clone, Copy)]
pub struct Op {
    /// The ONNX op type (default domain).
    pub name: &'static str,
    pub lower: Lower,
    pub view: View,
}

impl Op {
    /// An op with one output that computes new data.
    const fn one(name: &'static str, lower: fn(&mut Importer<'_>, &Node<'_>) -> R<Value>) -> Op {
        Op {
            name,
            lower: Lower::One(lower),
            view: View::No,
        }
    }

    /// An op with several outputs that computes new data.
    const fn many(
        name: &'static str,
        lower: fn(&mut Importer<'_>, &Node<'_>) -> R<Vec<Value>>,
    ) -> Op {
        Op {
            name,
            lower: Lower::Many(lower),
            view: View::No,
        }
    }

    /// The same op, doing `view` to its input 0.
    const fn viewing(self, view: View) -> Op {
        Op { view, ..self }
    }
}

/// A node as its handler sees it.
pub struct Node<'n> {
    /// The node's index in the file (the key of the fusion plan).
    pub index: usize,
    /// The node's name for messages and for the ops it lowers to.
    pub at: &'n NodeRef,
    pub proto: &'n NodeProto,
    /// The node's inputs in order; `None` for an omitted optional input.
    pub ins: &'n [Option<Value>],
    pub attrs: Attrs<'n>,
}

impl Node<'_> {
    /// Input `j`, which the op requires.
    pub fn input(&self, j: usize) -> R<&Value> {
        self.opt(j)
            .ok_or_else(|| invalid(format!("input {j} is missing")))
    }

    /// Input `j` if the node gives it (an optional input).
    pub fn opt(&self, j: usize) -> Option<&Value> {
        self.ins.get(j).and_then(|v| v.as_ref())
    }

    /// Whether any input is computed from a graph input.
    pub fn any_act(&self) -> bool {
        self.ins.iter().flatten().any(|v| v.is_act())
    }

    /// The state of a static output with `vals`, computed from every input:
    /// it carries all their not-yet-charged float initializers.
    pub fn statics(&self, vals: Option<Vec<i64>>) -> State {
        State::Static {
            vals,
            inits: self
                .ins
                .iter()
                .flatten()
                .fold(Vec::new(), |acc, v| union(&acc, v.inits())),
        }
    }
}

/// The op families, in the order `docs/onnx.md` lists their ops.
const FAMILIES: &[&[Op]] = &[
    matmul::OPS,
    conv::OPS,
    elementwise::OPS,
    vector::OPS,
    normalise::OPS,
    reduce::OPS,
    views::OPS,
    movement::OPS,
    fold::OPS,
    pool::OPS,
    structure::OPS,
];

/// How many ops the families hold together.
const N_OPS: usize = {
    let mut n = 0;
    let mut f = 0;
    while f < FAMILIES.len() {
        n += FAMILIES[f].len();
        f += 1;
    }
    n
};

/// Every op, family by family.
static TABLE: [Op; N_OPS] = flatten();

/// The ops the importer reads, in the order the docs list them.
pub const SUPPORTED_OPS: &[&str] = &names();

/// The families' ops one after another. A `const fn` because the table is
/// built at compile time (iterators are not available there).
const fn flatten() -> [Op; N_OPS] {
    let mut table = [FAMILIES[0][0]; N_OPS];
    let (mut f, mut k) = (0, 0);
    while f < FAMILIES.len() {
        let mut i = 0;
        while i < FAMILIES[f].len() {
            table[k] = FAMILIES[f][i];
            k += 1;
            i += 1;
        }
        f += 1;
    }
    table
}

const fn names() -> [&'static str; N_OPS] {
    let table = flatten();
    let mut names = [""; N_OPS];
    let mut k = 0;
    while k < N_OPS {
        names[k] = table[k].name;
        k += 1;
    }
    names
}

/// The entry of the ONNX op type `op_type`, if tessera imports it.
pub fn find(op_type: &str) -> Option<&'static Op> {
    TABLE.iter().find(|op| op.name == op_type)
}

/// Whether `op_type` only changes how its input 0 is seen ([`View::Reshape`]).
pub fn is_view(op_type: &str) -> bool {
    find(op_type).is_some_and(|op| op.view == View::Reshape)
}

/// Lowers `node` by its op's handler.
pub fn lower(op: &Op, imp: &mut Importer<'_>, node: &Node<'_>) -> R<Vec<Value>> {
    match op.lower {
        Lower::One(f) => f(imp, node).map(|v| vec![v]),
        Lower::Many(f) => f(imp, node),
    }
}
