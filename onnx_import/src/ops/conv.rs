//! Convolution: Conv (1-D and 2-D, grouped, dilated, padded) as an IR
//! `conv2d` whose weight and bias are parameters.

use sim::graph::OpKind;

use super::window::{two, window_attrs, window_outputs};
use super::{Node, Op};
use crate::import::Importer;
use crate::shape;
use crate::value::{R, State, Value, a, fmt_shape, invalid, union, unsupported};

pub const OPS: &[Op] = &[Op::one("Conv", conv)];

fn conv(imp: &mut Importer<'_>, node: &Node<'_>) -> R<Value> {
    let (x, w, b) = (node.input(0)?, node.input(1)?, node.opt(2));
    let rank = x.shape.len();
    if !(rank == 3 || rank == 4) || w.shape.len() != rank {
        return Err(unsupported(format!(
            "input {} and weight {}: tessera imports 1-D and 2-D convolutions (rank 3 or 4)",
            fmt_shape(&x.shape),
            fmt_shape(&w.shape)
        )));
    }
    let spatial = rank - 2;
    let group = a(node.attrs.int("group"))?.unwrap_or(1);
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| invalid(format!("group {group} must be positive")))?;
    let (n, cin) = (x.shape[0], x.shape[1]);
    let cout = w.shape[0];
    if w.shape[1].checked_mul(group) != Some(cin) || !cout.is_multiple_of(group) {
        return Err(invalid(format!(
            "input {} has {cin} channels but weight {} with group {group} expects {}",
            fmt_shape(&x.shape),
            fmt_shape(&w.shape),
            w.shape[1].saturating_mul(group)
        )));
    }
    let kernel: Vec<u64> = match a(node.attrs.ints("kernel_shape"))? {
        Some(k) if k.iter().map(|&d| d as u64).eq(w.shape[2..].iter().copied()) => {
            w.shape[2..].to_vec()
        }
        Some(k) => {
            return Err(invalid(format!(
                "kernel_shape {k:?} differs from the weight's {:?}",
                &w.shape[2..]
            )));
        }
        None => w.shape[2..].to_vec(),
    };
    if kernel.contains(&0) {
        return Err(invalid(format!("kernel {kernel:?} has a zero dim")));
    }
    if let Some(b) = b
        && b.shape != [cout]
    {
        return Err(invalid(format!(
            "bias has shape {:?}, expected [{cout}]",
            b.shape
        )));
    }
    let window = window_attrs(&node.attrs, spatial, &kernel)?;
    let out: Vec<u64> = window_outputs(&x.shape, &window, false)?
        .iter()
        .map(|&(size, _)| size)
        .collect();
    let (eff, strides, pads, auto_pad) = window;
    let mut shape = vec![n, cout];
    shape.extend(&out);
    if !x.is_act() && !w.is_act() {
        let inits = union(
            &union(x.inits(), w.inits()),
            b.map_or(&[][..], |b| b.inits()),
        );
        return Ok(Value {
            shape,
            elem: x.elem,
            state: State::Static { vals: None, inits },
        });
    }
    if w.is_act() || b.is_some_and(|b| b.is_act()) {
        return Err(unsupported(
            "weights or bias computed from a graph input; tessera's convolution has constant weights",
        ));
    }
    // 1-D convolutions are 2-D ones over a height of 1.
    let in_hw = two(&x.shape[2..], 1);
    let (kernel2, stride2, out_hw) = (two(&eff, 1), two(&strides, 1), two(&out, 1));
    let mut padding = [0u64; 2];
    for d in 0..2 {
        padding[d] = shape::symmetric_pad(in_hw[d], kernel2[d], stride2[d], out_hw[d]).ok_or_else(|| unsupported(format!(
            "pads {pads:?} (auto_pad {auto_pad:?}) give an output size no symmetric padding reproduces; tessera's convolution pads both sides equally"
        )))?;
    }
    let params = imp.charge(Some(w)) + imp.charge(b) + imp.take_bias(node.index, &shape, 1);
    let kind = OpKind::Conv2d {
        batch: n,
        in_channels: cin,
        out_channels: cout,
        in_hw,
        out_hw,
        kernel: kernel2,
        stride: stride2,
        padding,
        groups: group,
    };
    let xin = Value {
        shape: vec![n, cin, in_hw[0], in_hw[1]],
        ..x.clone()
    };
    let s = imp.emit(
        &node.at.name,
        kind,
        &[&xin],
        vec![n, cout, out_hw[0], out_hw[1]],
        0,
        params,
    )?;
    Ok(imp.act(s, shape, x.elem))
}
