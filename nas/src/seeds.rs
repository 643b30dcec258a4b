//! Seed networks for the search, in the architecture IR: a CifarNet-style
//! CNN (after TF-slim's `cifarnet`, which the workload zoo also builds) and a
//! small ResNet of basic blocks. Each named layer group is a block, the unit
//! the search rewrites.

use crate::ir::{Net, NetBuilder, Op, ValueId};

/// Seed names [`by_name`] knows, with what they are.
pub const SEEDS: [(&str, &str); 2] = [
    (
        "cifarnet",
        "CifarNet-style CNN: two 5×5 conv + ReLU + 2×2 max-pool blocks, then dense 384 → 192 → classes",
    ),
    (
        "resnet",
        "small ResNet: 3×3 stem, `blocks` basic residual blocks per stage at widths w and 2w (the second stage strided), global average pool, dense",
    ),
];

/// A seed network by name, for per-sample input `input` (`[c, h, w]`) and
/// `classes` outputs; `width` is the first conv's channels.
pub fn by_name(name: &str, input: &[u64], classes: u64, width: u64, blocks: u64) -> Option<Net> {
    match name {
        "cifarnet" => Some(cifarnet_small(input, classes, width)),
        "resnet" => Some(resnet_small(input, classes, width, blocks)),
        _ => None,
    }
}

fn conv(out_channels: u64, kernel: u64, stride: u64) -> Op {
    Op::Conv {
        out_channels,
        kernel,
        stride,
        padding: kernel / 2,
        groups: 1,
    }
}

/// TF-slim's cifarnet shape for small images: conv 5×5 (`width`, SAME) +
/// ReLU + 2×2 max-pool, twice; flatten; dense 384 + ReLU; dense 192 + ReLU;
/// dense `classes`. (Slim's local response normalisations and dropout are
/// left out, as in the zoo's cifarnet.)
pub fn cifarnet_small(input: &[u64], classes: u64, width: u64) -> Net {
    let mut b = NetBuilder::new("cifarnet", input);
    let pool = Op::MaxPool {
        kernel: 2,
        stride: 2,
        padding: 0,
    };
    let mut x = ValueId::INPUT;
    for blk in ["conv1", "conv2"] {
        x = b
            .push(blk, blk, conv(width, 5, 1), &[x])
            .expect("seed shapes");
        x = b
            .push(&format!("{blk}.relu"), blk, Op::Relu, &[x])
            .expect("seed shapes");
        x = b
            .push(&format!("{blk}.pool"), blk, pool.clone(), &[x])
            .expect("seed shapes");
    }
    x = b
        .push("flatten", "fc3", Op::Flatten, &[x])
        .expect("seed shapes");
    for (blk, units) in [("fc3", 384), ("fc4", 192)] {
        x = b
            .push(blk, blk, Op::Dense { units }, &[x])
            .expect("seed shapes");
        x = b
            .push(&format!("{blk}.relu"), blk, Op::Relu, &[x])
            .expect("seed shapes");
    }
    let y = b
        .push("logits", "logits", Op::Dense { units: classes }, &[x])
        .expect("seed shapes");
    b.finish(y)
}

/// A small ResNet: stem conv 3×3 (`width`) + batch norm + ReLU; two stages
/// of `blocks` basic blocks (conv-bn-relu-conv-bn, added to the shortcut,
/// ReLU) at `width` and `2·width` channels, the second stage's first block
/// strided 2 with a 1×1 strided projection shortcut; global average pool;
/// dense `classes`.
pub fn resnet_small(input: &[u64], classes: u64, width: u64, blocks: u64) -> Net {
    let mut b = NetBuilder::new("resnet", input);
    let mut x = b
        .push("stem", "stem", conv(width, 3, 1), &[ValueId::INPUT])
        .expect("seed shapes");
    x = b
        .push("stem.bn", "stem", Op::BatchNorm, &[x])
        .expect("seed shapes");
    x = b
        .push("stem.relu", "stem", Op::Relu, &[x])
        .expect("seed shapes");
    for (stage, w) in [(1, width), (2, 2 * width)] {
        for i in 0..blocks {
            let blk = format!("s{stage}b{i}");
            let stride = if stage > 1 && i == 0 { 2 } else { 1 };
            let mut y = b
                .push(&format!("{blk}.conv1"), &blk, conv(w, 3, stride), &[x])
                .expect("seed shapes");
            y = b
                .push(&format!("{blk}.bn1"), &blk, Op::BatchNorm, &[y])
                .expect("seed shapes");
            y = b
                .push(&format!("{blk}.relu1"), &blk, Op::Relu, &[y])
                .expect("seed shapes");
            y = b
                .push(&format!("{blk}.conv2"), &blk, conv(w, 3, 1), &[y])
                .expect("seed shapes");
            y = b
                .push(&format!("{blk}.bn2"), &blk, Op::BatchNorm, &[y])
                .expect("seed shapes");
            let short = if stride != 1 || b.shape(x)[0] != w {
                let s = b
                    .push(&format!("{blk}.proj"), &blk, conv(w, 1, stride), &[x])
                    .expect("seed shapes");
                b.push(&format!("{blk}.proj_bn"), &blk, Op::BatchNorm, &[s])
                    .expect("seed shapes")
            } else {
                x
            };
            y = b
                .push(&format!("{blk}.add"), &blk, Op::Add, &[y, short])
                .expect("seed shapes");
            x = b
                .push(&format!("{blk}.relu2"), &blk, Op::Relu, &[y])
                .expect("seed shapes");
        }
    }
    x = b
        .push("gap", "head", Op::GlobalAvgPool, &[x])
        .expect("seed shapes");
    let y = b
        .push("fc", "head", Op::Dense { units: classes }, &[x])
        .expect("seed shapes");
    b.finish(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_have_the_expected_sizes() {
        let c = cifarnet_small(&[1, 8, 8], 10, 64);
        assert_eq!(c.output_shape().unwrap(), vec![10]);
        // conv1 1·25·64+64, conv2 64·25·64+64, fc3 (64·2·2)·384+384,
        // fc4 384·192+192, logits 192·10+10.
        assert_eq!(
            c.params().unwrap(),
            1664 + 102_464 + 98_688 + 73_920 + 1_930
        );
        let r = resnet_small(&[1, 28, 28], 10, 16, 1);
        assert_eq!(r.output_shape().unwrap(), vec![10]);
        assert_eq!(r.block_names(), vec!["stem", "s1b0", "s2b0", "head"]);
    }
}
