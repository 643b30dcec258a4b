//! Small models for quick runs: CifarNet (TF-slim) and a plain multi-layer
//! perceptron.

use super::{Args, BATCH, DTYPE, MAX_CLASSES, MAX_IMAGE, ModelInfo, ParamInfo, ZooError};
use crate::graph::{Conv, EltFunc, Graph, PoolFunc, Window};

pub(super) const CIFARNET: ModelInfo = ModelInfo {
    name: "cifarnet",
    summary: "CifarNet (TF-slim research/slim/nets/cifarnet.py): 2 conv 5×5 + 3 fc, 1.76M params",
    params: &[
        BATCH,
        DTYPE,
        ParamInfo {
            key: "image",
            default: "32",
            doc: "input height and width in pixels; at least 4 (two 2×2/2 pools)",
        },
        ParamInfo {
            key: "classes",
            default: "10",
            doc: "outputs of the logits layer",
        },
    ],
    build: build_cifarnet,
};

pub(super) const MLP: ModelInfo = ModelInfo {
    name: "mlp",
    summary: "Multi-layer perceptron: linear layers with ReLU between them",
    params: &[
        BATCH,
        DTYPE,
        ParamInfo {
            key: "sizes",
            default: "784,512,512,10",
            doc: "comma-separated layer widths, input first (2 to 257 widths)",
        },
    ],
    build: build_mlp,
};

/// Channels of both CifarNet convs.
const CIFARNET_CHANNELS: u64 = 64;

/// TF-slim `cifarnet`: conv1 (5×5, 64, SAME, ReLU), pool1, conv2 (5×5, 64,
/// SAME, ReLU), pool2, flatten, fc3 (384, ReLU), fc4 (192, ReLU), logits.
///
/// The slim source pools with `max_pool2d(net, [2, 2], 2)`, whose default
/// padding is VALID: 2×2 windows, stride 2, no padding, so 32 → 16 → 8. (The
/// older TensorFlow CIFAR-10 tutorial model pools 3×3/2 SAME instead, which
/// gives the same sizes at 32.) Its two local response normalisations have no
/// parameters and no multiply-accumulates, and are not built; neither is the
/// dropout, the identity at inference.
fn build_cifarnet(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let image = args.int("image", 4..=MAX_IMAGE)?;
    let classes = args.int("classes", 1..=MAX_CLASSES)?;

    let mut b = args.graph(dtype);
    let x = b.input("image", &[batch, 3, image, image]);
    // 5×5 SAME at stride 1 is a symmetric padding of 2.
    let conv5x5 = Conv::new(CIFARNET_CHANNELS, 5).padding(2).bias(true);
    let x = b.conv2d("conv1", &x, conv5x5)?;
    let x = b.eltwise("conv1.relu", EltFunc::Relu, &[&x], 0)?;
    let x = b.pool("pool1", &x, PoolFunc::Max, Window::new(2))?;
    let x = b.conv2d("conv2", &x, conv5x5)?;
    let x = b.eltwise("conv2.relu", EltFunc::Relu, &[&x], 0)?;
    let x = b.pool("pool2", &x, PoolFunc::Max, Window::new(2))?;
    // slim.flatten is a view: fc3 reads the pooled NCHW map as [batch, C·H·W].
    let x = b.flatten_linear("fc3", &x, 384, true)?;
    let x = b.eltwise("fc3.relu", EltFunc::Relu, &[&x], 0)?;
    let x = b.linear("fc4", &x, 192, true)?;
    let x = b.eltwise("fc4.relu", EltFunc::Relu, &[&x], 0)?;
    b.linear("logits", &x, classes, true)?;
    args.finish(b)
}

/// Bounds on the MLP: up to 256 layers, each up to 2^20 wide.
const MAX_MLP_WIDTHS: usize = 257;
const MAX_MLP_WIDTH: u64 = 1 << 20;

fn build_mlp(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let text = args.raw("sizes").trim().to_string();
    let expected = format!(
        "2 to {MAX_MLP_WIDTHS} comma-separated widths from 1 to {MAX_MLP_WIDTH}, input first (e.g. 784,512,10)"
    );
    let sizes: Vec<u64> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .ok()
                .filter(|w| (1..=MAX_MLP_WIDTH).contains(w))
        })
        .collect::<Option<_>>()
        .filter(|v: &Vec<u64>| (2..=MAX_MLP_WIDTHS).contains(&v.len()))
        .ok_or_else(|| args.invalid("sizes", &text, &expected))?;
    let canonical: Vec<String> = sizes.iter().map(u64::to_string).collect();
    args.record("sizes", canonical.join(","));

    let mut b = args.graph(dtype);
    let mut x = b.input("input", &[batch, sizes[0]]);
    let layers = sizes.len() - 1;
    for (i, &width) in sizes[1..].iter().enumerate() {
        x = b.linear(&format!("fc{i}"), &x, width, true)?;
        // No activation after the last layer: its outputs are logits.
        if i + 1 < layers {
            x = b.eltwise(&format!("fc{i}.relu"), EltFunc::Relu, &[&x], 0)?;
        }
    }
    args.finish(b)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_default, build_with};

    // Derived from the slim definition (no published figure): conv1 5·5·3·64 +
    // 64 = 4,864; conv2 5·5·64·64 + 64 = 102,464; fc3 8·8·64·384 + 384 =
    // 1,573,248; fc4 384·192 + 192 = 73,920; logits 192·10 + 10 = 1,930.
    #[test]
    fn cifarnet_parameter_count_matches_the_slim_definition() {
        let g = build_default("cifarnet");
        let params = |name: &str| g.ops().iter().find(|o| o.name == name).unwrap().params;
        assert_eq!(params("conv1"), 4_864);
        assert_eq!(params("conv2"), 102_464);
        assert_eq!(params("fc3"), 1_573_248);
        assert_eq!(params("fc4"), 73_920);
        assert_eq!(params("logits"), 1_930);
        assert_eq!(g.totals().params, 1_756_426);
    }

    // Derived: 784·512 + 512 + 512·512 + 512 + 512·10 + 10.
    #[test]
    fn mlp_parameter_count_is_the_sum_of_its_layers() {
        assert_eq!(build_default("mlp").totals().params, 669_706);
        let g = build_with("mlp", &[("sizes", " 4, 3 ")]);
        assert_eq!(g.totals().params, 15);
        assert_eq!(g.params()["sizes"], "4,3");
        assert_eq!(g.ops().len(), 1);
    }
}
