//! Column views: where a projection's output columns sit in the values that
//! view it (through reshapes, squeezes and folded transposes), so that the
//! slices taking column blocks of it can be recorded as pieces for the
//! column-split fusion (`fuse::rewrite`).

use sim::graph::OpId;

use crate::fuse;
use crate::import::Importer;
use crate::ops::{self, View};
use crate::proto::NodeProto;
use crate::reader::Attrs;
use crate::value::{State, Value};

/// How a projection's output columns are laid out in a value that views it:
/// each dim of the value is a row dim or one of the column factors (outer to
/// inner), so a slice along the outermost column factor is a column block.
#[derive(Clone, Debug)]
pub struct ColView {
    pub op: OpId,
    /// Output columns of the projection.
    pub n: u64,
    pub rows: u64,
    /// Per dim of the value: `None` for a row dim, `Some(j)` for factor `j`.
    pub roles: Vec<Option<usize>>,
    pub factors: Vec<u64>,
}

impl ColView {
    /// The column block selected by `start .. start + len` along `axis`, if
    /// that axis is the outermost column factor.
    fn block(&self, axis: usize, start: u64, len: u64) -> Option<(u64, u64)> {
        (self.roles.get(axis) == Some(&Some(0))).then(|| {
            let per = self.n / self.factors[0];
            (start * per, len * per)
        })
    }

    /// The view with `shape`, if the value is in row-major order (rows, then
    /// the column factors) and `shape` keeps rows and columns apart.
    fn reshape(&self, shape: &[u64]) -> Option<ColView> {
        let canonical = self
            .roles
            .iter()
            .skip_while(|r| r.is_none())
            .enumerate()
            .all(|(j, r)| *r == Some(j));
        if !canonical {
            return None;
        }
        let mut rows = 1u64;
        let mut split = 0;
        while split < shape.len() && rows < self.rows {
            rows = rows.checked_mul(shape[split])?;
            split += 1;
        }
        while split < shape.len() && shape[split] == 1 && rows == self.rows {
            split += 1;
        }
        let factors = shape[split..].to_vec();
        if rows != self.rows || factors.iter().product::<u64>() != self.n || factors.is_empty() {
            return None;
        }
        let mut roles = vec![None; split];
        roles.extend((0..factors.len()).map(Some));
        Some(ColView {
            roles,
            factors,
            ..self.clone()
        })
    }

    /// The view after a reshape from `from` to `to` that only drops or
    /// inserts dims of size 1 (a Squeeze or Unsqueeze, in any layout): the
    /// other dims keep their order, so they keep their roles, and the new
    /// dims of size 1 are row dims.
    fn drop_or_add_ones(&self, from: &[u64], to: &[u64]) -> Option<ColView> {
        if from.len() != self.roles.len() {
            return None;
        }
        let mut kept = from
            .iter()
            .zip(&self.roles)
            .filter(|(d, r)| !(**d == 1 && r.is_none()))
            .peekable();
        let mut roles = Vec::with_capacity(to.len());
        for &d in to {
            match kept.peek() {
                Some((k, r)) if **k == d => {
                    roles.push(**r);
                    kept.next();
                }
                _ if d == 1 => roles.push(None),
                _ => return None,
            }
        }
        (kept.next().is_none()).then(|| ColView {
            roles,
            ..self.clone()
        })
    }
}

impl Importer<'_> {
    /// Carries column views (see [`ColView`]) from node inputs to outputs.
    pub fn track_cols(&mut self, index: usize, node: &NodeProto, outs: &[Value]) {
        let Some(out_name) = node.output.first() else {
            return;
        };
        let view = if let Some(c) = self.pending_cols.take() {
            Some(c)
        } else if self.absorbed.contains(&index) {
            node.input
                .iter()
                .find_map(|n| self.cols.get(n))
                .cloned()
                .filter(|c| Some(c.roles.len()) == outs.first().map(|v| v.shape.len()))
        } else if let (Some(c), Some(out)) = (self.cur_cols.take(), outs.first()) {
            let same_source = |v: &Value| match (&v.state, self.values.get(&node.input[0])) {
                (
                    State::Act(a),
                    Some(Value {
                        state: State::Act(b),
                        ..
                    }),
                ) => a == b,
                _ => false,
            };
            match ops::find(&node.op_type).map(|op| op.view) {
                Some(View::Reshape) if same_source(out) => {
                    let from = self.values.get(&node.input[0]).map(|v| v.shape.clone());
                    c.reshape(&out.shape)
                        .or_else(|| c.drop_or_add_ones(from.as_deref()?, &out.shape))
                }
                Some(View::Permute) if same_source(out) => {
                    let rank = c.roles.len();
                    let perm: Vec<usize> = match Attrs::new(node).ints("perm") {
                        Ok(Some(p)) => p.iter().map(|&d| d as usize).collect(),
                        _ => (0..rank).rev().collect(),
                    };
                    (perm.len() == rank).then(|| ColView {
                        roles: perm.iter().map(|&d| c.roles[d]).collect(),
                        ..c
                    })
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(v) = view {
            self.cols.insert(out_name.clone(), v);
        }
    }

    /// Records slice op `id` (`start .. start + len` along `axis` of the current
    /// node's input) as a column block if the input views a projection.
    pub fn note_piece(&mut self, id: OpId, axis: usize, start: u64, len: u64) {
        if let Some(c) = &self.cur_cols
            && let Some((start, width)) = c.block(axis, start, len)
        {
            self.pieces.push(fuse::Piece {
                op: id,
                of: c.op,
                start,
                width,
            });
        }
    }
}
