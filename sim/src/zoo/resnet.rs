//! Residual networks: torchvision ResNet-18/34/50 (v1.5, stride on the 3×3
//! conv), with an ImageNet stem or the CIFAR stem of kuangliu/pytorch-cifar.

use super::{Args, BATCH, DTYPE, MAX_CLASSES, MAX_IMAGE, ModelInfo, ParamInfo, ZooError};
use crate::graph::{BuildError, Conv, EltFunc, Graph, GraphBuilder, PoolFunc, Tensor, Window};

const PARAMS: &[ParamInfo] = &[
    BATCH,
    DTYPE,
    ParamInfo {
        key: "stem",
        default: "imagenet",
        doc: "imagenet (7×7/2 conv, 3×3/2 max pool) or cifar (3×3/1 conv, no pool)",
    },
    ParamInfo {
        key: "image",
        default: "224",
        doc: "input height and width in pixels; 224 with stem=imagenet, 32 with stem=cifar",
    },
    ParamInfo {
        key: "classes",
        default: "1000",
        doc: "outputs of the final fc; 1000 with stem=imagenet, 10 with stem=cifar",
    },
];

pub(super) const RESNET18: ModelInfo = ModelInfo {
    name: "resnet18",
    summary: "ResNet-18 (torchvision; stem=cifar as kuangliu/pytorch-cifar): basic blocks [2,2,2,2], 11.7M params",
    params: PARAMS,
    build: |args| build_resnet(args, Block::Basic, [2, 2, 2, 2]),
};

pub(super) const RESNET34: ModelInfo = ModelInfo {
    name: "resnet34",
    summary: "ResNet-34 (torchvision; stem=cifar as kuangliu/pytorch-cifar): basic blocks [3,4,6,3], 21.8M params",
    params: PARAMS,
    build: |args| build_resnet(args, Block::Basic, [3, 4, 6, 3]),
};

pub(super) const RESNET50: ModelInfo = ModelInfo {
    name: "resnet50",
    summary: "ResNet-50 v1.5 (torchvision; stem=cifar as kuangliu/pytorch-cifar): bottlenecks [3,4,6,3], 25.6M params",
    params: PARAMS,
    build: |args| build_resnet(args, Block::Bottleneck, [3, 4, 6, 3]),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// Two 3×3 convs (ResNet-18/34).
    Basic,
    /// 1×1 reduce, 3×3, 1×1 expand by 4 (ResNet-50 and deeper).
    Bottleneck,
}

impl Block {
    /// Output channels per unit of stage width.
    fn expansion(self) -> u64 {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// Stage widths; stages after the first start with stride 2.
const WIDTHS: [u64; 4] = [64, 128, 256, 512];

fn build_resnet(args: &mut Args<'_>, block: Block, depths: [u64; 4]) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let cifar = args.choice("stem", &["imagenet", "cifar"])? == "cifar";
    // Every conv and pool here pads by ⌊kernel/2⌋, so even a 1-pixel image
    // survives all strides (as with torchvision's adaptive average pool).
    let image = args.int_or("image", if cifar { 32 } else { 224 }, 1..=MAX_IMAGE)?;
    let classes = args.int_or("classes", if cifar { 10 } else { 1000 }, 1..=MAX_CLASSES)?;

    let mut b = args.graph(dtype);
    let x = b.input("image", &[batch, 3, image, image]);
    let x = if cifar {
        b.conv2d("conv1", &x, Conv::new(64, 3).padding(1))?
    } else {
        b.conv2d("conv1", &x, Conv::new(64, 7).stride(2).padding(3))?
    };
    let x = b.batch_norm("bn1", &x)?;
    let mut x = b.eltwise("relu", EltFunc::Relu, &[&x], 0)?;
    if !cifar {
        x = b.pool(
            "maxpool",
            &x,
            PoolFunc::Max,
            Window::new(3).stride(2).padding(1),
        )?;
    }
    for (stage, (&width, &depth)) in WIDTHS.iter().zip(&depths).enumerate() {
        for i in 0..depth {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{i}", stage + 1);
            x = match block {
                Block::Basic => basic_block(&mut b, &prefix, &x, width, stride)?,
                Block::Bottleneck => bottleneck(&mut b, &prefix, &x, width, stride)?,
            };
        }
    }
    // kuangliu's CIFAR model uses avg_pool2d(4) on the 4×4 map, which is the
    // global average at image 32; the global form also serves other sizes.
    let x = b.global_avg_pool("avgpool", &x)?;
    b.linear("fc", &x, classes, true)?;
    args.finish(b)
}

/// The identity, or a 1×1 conv + BN when the block changes shape.
fn shortcut(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    out: u64,
    stride: u64,
) -> Result<Tensor, BuildError> {
    if stride == 1 && x.shape[1] == out {
        return Ok(x.clone());
    }
    let s = b.conv2d(
        &format!("{prefix}.downsample.conv"),
        x,
        Conv::new(out, 1).stride(stride),
    )?;
    b.batch_norm(&format!("{prefix}.downsample.bn"), &s)
}

fn basic_block(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    width: u64,
    stride: u64,
) -> Result<Tensor, BuildError> {
    let conv3x3 = |stride| Conv::new(width, 3).stride(stride).padding(1);
    let h = b.conv2d(&format!("{prefix}.conv1"), x, conv3x3(stride))?;
    let h = b.batch_norm(&format!("{prefix}.bn1"), &h)?;
    let h = b.eltwise(&format!("{prefix}.relu1"), EltFunc::Relu, &[&h], 0)?;
    let h = b.conv2d(&format!("{prefix}.conv2"), &h, conv3x3(1))?;
    let h = b.batch_norm(&format!("{prefix}.bn2"), &h)?;
    let s = shortcut(b, prefix, x, width, stride)?;
    let h = b.eltwise(&format!("{prefix}.add"), EltFunc::Add, &[&h, &s], 0)?;
    b.eltwise(&format!("{prefix}.relu2"), EltFunc::Relu, &[&h], 0)
}

fn bottleneck(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    width: u64,
    stride: u64,
) -> Result<Tensor, BuildError> {
    let out = width * Block::Bottleneck.expansion();
    let h = b.conv2d(&format!("{prefix}.conv1"), x, Conv::new(width, 1))?;
    let h = b.batch_norm(&format!("{prefix}.bn1"), &h)?;
    let h = b.eltwise(&format!("{prefix}.relu1"), EltFunc::Relu, &[&h], 0)?;
    // v1.5: the stride is on the 3×3 conv, not the first 1×1.
    let h = b.conv2d(
        &format!("{prefix}.conv2"),
        &h,
        Conv::new(width, 3).stride(stride).padding(1),
    )?;
    let h = b.batch_norm(&format!("{prefix}.bn2"), &h)?;
    let h = b.eltwise(&format!("{prefix}.relu2"), EltFunc::Relu, &[&h], 0)?;
    let h = b.conv2d(&format!("{prefix}.conv3"), &h, Conv::new(out, 1))?;
    let h = b.batch_norm(&format!("{prefix}.bn3"), &h)?;
    let s = shortcut(b, prefix, x, out, stride)?;
    let h = b.eltwise(&format!("{prefix}.add"), EltFunc::Add, &[&h, &s], 0)?;
    b.eltwise(&format!("{prefix}.relu3"), EltFunc::Relu, &[&h], 0)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_default, build_with};

    // torchvision model docs (weights tables), `num_params` of
    // ResNet18/34/50_Weights.IMAGENET1K_V1.
    #[test]
    fn imagenet_parameter_counts_match_torchvision() {
        assert_eq!(build_default("resnet18").totals().params, 11_689_512);
        assert_eq!(build_default("resnet34").totals().params, 21_797_672);
        assert_eq!(build_default("resnet50").totals().params, 25_557_032);
    }

    // kuangliu/pytorch-cifar ResNet18/34/50 (10 classes). Derived by hand and
    // consistent with torchvision: the 3×3×3×64 stem conv replaces the
    // 7×7×3×64 one (−7,680) and a 10-way fc replaces the 1000-way one
    // (−990·(C+1) for C = 512 or 2048).
    #[test]
    fn cifar_parameter_counts_match_kuangliu() {
        let cifar = [("stem", "cifar")];
        assert_eq!(build_with("resnet18", &cifar).totals().params, 11_173_962);
        assert_eq!(build_with("resnet34", &cifar).totals().params, 21_282_122);
        assert_eq!(build_with("resnet50", &cifar).totals().params, 23_520_842);
        assert_eq!(11_689_512 - 7_680 - 990 * 513, 11_173_962);
        assert_eq!(25_557_032 - 7_680 - 990 * 2049, 23_520_842);
    }

    // The commonly quoted 4.09 GFLOPs of ResNet-50 at 224 are multiply-
    // accumulates of the convs and fc.
    #[test]
    fn resnet50_costs_about_4_09_g_macs() {
        let macs = build_default("resnet50").totals().macs;
        assert!((4_080_000_000..4_100_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn stride_is_on_the_3x3_conv_of_a_bottleneck() {
        let g = build_default("resnet50");
        let op = |name: &str| g.ops().iter().find(|o| o.name == name).unwrap();
        assert_eq!(op("layer2.0.conv1").output_shape, vec![1, 128, 56, 56]);
        assert_eq!(op("layer2.0.conv2").output_shape, vec![1, 128, 28, 28]);
        assert_eq!(op("layer4.2.relu3").output_shape, vec![1, 2048, 7, 7]);
        let g = build_with("resnet18", &[("stem", "cifar")]);
        let last = g.ops().iter().find(|o| o.name == "layer4.1.relu2").unwrap();
        assert_eq!(last.output_shape, vec![1, 512, 4, 4]);
    }
}
