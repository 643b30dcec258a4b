//! Randomising a synthesized fragment's free hyper-parameters: the guided
//! growth ties many choices (a conv's kernel size, an intermediate width) to
//! whatever first met the target, so afterwards each conv and dense layer,
//! in random order, is given a random kernel (1, 3 or 5 with "same" padding,
//! which never changes the output shape) and, unless it makes the fragment's
//! output, a random width among its current one, double and half (within
//! the width limit). Depthwise convs that read a re-widened value follow its
//! channels. A change is kept only if the fragment still gives the target's
//! shapes and the distance to the target stays 0; each check is a step.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::ir::{Fragment, Op, Shape};
use crate::props::Target;

use super::ops::{KERNELS, widths};
use super::progressive::{Budget, score};

/// The fragment with depthwise convs (groups = out channels > 1) fitted to
/// their input channels again, or `None` when some node no longer fits.
fn refit(mut frag: Fragment) -> Option<Fragment> {
    let mut shapes: Vec<Shape> = frag.inputs.clone();
    for n in &mut frag.nodes {
        let ins: Vec<&Shape> = n.inputs.iter().map(|v| &shapes[v.0 as usize]).collect();
        if let Op::Conv {
            out_channels,
            groups,
            ..
        } = &mut n.op
            && *groups > 1
            && *groups == *out_channels
        {
            let c = ins.first()?.first().copied()?;
            *groups = c;
            *out_channels = c;
        }
        let y = n.op.infer(&ins).ok()?;
        shapes.push(y);
    }
    Some(frag)
}

/// Alternatives for node `i`'s op (its current op excluded).
fn alternatives(frag: &Fragment, i: usize, max_width: u64) -> Vec<Op> {
    let makes_output = frag
        .outputs
        .iter()
        .any(|o| o.0 as usize == frag.inputs.len() + i);
    let mut alts = Vec::new();
    match &frag.nodes[i].op {
        Op::Conv {
            out_channels,
            stride,
            groups,
            ..
        } => {
            let depthwise = *groups > 1 && groups == out_channels;
            let outs = if makes_output || depthwise {
                vec![*out_channels]
            } else {
                widths(*out_channels, None, max_width)
            };
            for &k in &KERNELS {
                for &o in &outs {
                    let g = if depthwise { *groups } else { 1 };
                    alts.push(Op::Conv {
                        out_channels: o,
                        kernel: k,
                        stride: *stride,
                        padding: k / 2,
                        groups: g,
                    });
                }
            }
        }
        Op::Dense { units } if !makes_output => {
            for u in widths(*units, None, max_width) {
                alts.push(Op::Dense { units: u });
            }
        }
        _ => {}
    }
    let current = &frag.nodes[i].op;
    alts.retain(|op| op != current);
    alts
}

/// `frag` with free hyper-parameters redrawn where the target allows (see
/// the module docs); stops early when the budget runs out.
pub(crate) fn tune(
    frag: &Fragment,
    target: &Target,
    max_width: u64,
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Fragment {
    let mut best = frag.clone();
    let mut order: Vec<usize> = (0..frag.nodes.len()).collect();
    order.shuffle(rng);
    for i in order {
        let alts = alternatives(&best, i, max_width);
        // Keeping the current op is one of the choices.
        let pick = rng.gen_range(0..=alts.len());
        let Some(op) = alts.get(pick) else { continue };
        let mut changed = best.clone();
        changed.nodes[i].op = op.clone();
        let Some(changed) = refit(changed) else {
            continue;
        };
        match changed.output_shapes() {
            Ok(s) if s == target.shapes => {}
            _ => continue,
        }
        if !budget.spend() {
            break;
        }
        if score(&changed, target) == 0.0 {
            best = changed;
        }
    }
    best
}
