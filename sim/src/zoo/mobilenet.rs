//! MobileNetV2 (torchvision `mobilenet_v2`, width 1.0): inverted residual
//! blocks with depthwise 3×3 convs and ReLU6.

use super::{Args, BATCH, DTYPE, MAX_CLASSES, MAX_IMAGE, ModelInfo, ParamInfo, ZooError};
use crate::graph::{BuildError, Conv, EltFunc, Graph, GraphBuilder, Tensor};

pub(super) const MOBILENET_V2: ModelInfo = ModelInfo {
    name: "mobilenet-v2",
    summary: "MobileNetV2 1.0 (torchvision mobilenet_v2): 17 inverted residual blocks, 3.5M params",
    params: &[
        BATCH,
        DTYPE,
        ParamInfo {
            key: "image",
            default: "224",
            doc: "input height and width in pixels",
        },
        ParamInfo {
            key: "classes",
            default: "1000",
            doc: "outputs of the classifier",
        },
    ],
    build: build_mobilenet_v2,
};

/// torchvision's `inverted_residual_setting`: expansion t, output channels c,
/// repeats n, first stride s. At width 1.0 `_make_divisible` leaves every
/// channel count as written.
const SETTINGS: [(u64, u64, u64, u64); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];
const STEM_CHANNELS: u64 = 32;
const LAST_CHANNELS: u64 = 1280;

fn build_mobilenet_v2(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    // Every conv pads by ⌊kernel/2⌋, so any image size survives the strides.
    let image = args.int("image", 1..=MAX_IMAGE)?;
    let classes = args.int("classes", 1..=MAX_CLASSES)?;

    let mut b = args.graph(dtype);
    let x = b.input("image", &[batch, 3, image, image]);
    let stem = Conv::new(STEM_CHANNELS, 3).stride(2);
    let mut x = conv_bn(&mut b, "features.0", &x, stem, true)?;
    let mut index = 1;
    for (t, c, n, s) in SETTINGS {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            x = inverted_residual(&mut b, &format!("features.{index}"), &x, c, stride, t)?;
            index += 1;
        }
    }
    let last = Conv::new(LAST_CHANNELS, 1);
    let x = conv_bn(&mut b, &format!("features.{index}"), &x, last, true)?;
    let x = b.global_avg_pool("avgpool", &x)?;
    // The classifier's dropout is the identity at inference and is not built.
    b.linear("classifier", &x, classes, true)?;
    args.finish(b)
}

/// Conv (no bias), batch norm and, if `relu6`, ReLU6: torchvision's
/// `Conv2dNormActivation`, or a projection when `relu6` is false. The conv
/// pads by ⌊kernel/2⌋ and is depthwise when its groups are the input channel
/// count.
fn conv_bn(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    conv: Conv,
    relu6: bool,
) -> Result<Tensor, BuildError> {
    let conv = conv.padding(conv.kernel / 2);
    let h = b.conv2d(&format!("{prefix}.conv"), x, conv)?;
    let h = b.batch_norm(&format!("{prefix}.bn"), &h)?;
    if relu6 {
        b.eltwise(&format!("{prefix}.relu6"), EltFunc::Relu6, &[&h], 0)
    } else {
        Ok(h)
    }
}

/// Expand (1×1, skipped when t = 1), depthwise 3×3 with the stride, project
/// (1×1, linear), and the residual add when shapes allow it.
fn inverted_residual(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    out: u64,
    stride: u64,
    expansion: u64,
) -> Result<Tensor, BuildError> {
    let inp = x.shape[1];
    let hidden = inp * expansion;
    let h = if expansion == 1 {
        x.clone()
    } else {
        conv_bn(
            b,
            &format!("{prefix}.expand"),
            x,
            Conv::new(hidden, 1),
            true,
        )?
    };
    let depthwise = Conv::new(hidden, 3).stride(stride).groups(hidden);
    let h = conv_bn(b, &format!("{prefix}.dw"), &h, depthwise, true)?;
    let h = conv_bn(
        b,
        &format!("{prefix}.project"),
        &h,
        Conv::new(out, 1),
        false,
    )?;
    if stride == 1 && inp == out {
        b.eltwise(&format!("{prefix}.add"), EltFunc::Add, &[x, &h], 0)
    } else {
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::build_default;

    // torchvision model docs: MobileNet_V2_Weights.IMAGENET1K_V1 num_params.
    #[test]
    fn parameter_count_matches_torchvision() {
        assert_eq!(build_default("mobilenet-v2").totals().params, 3_504_872);
    }

    // torchvision quotes 0.30 GFLOPs (multiply-accumulates) at 224.
    #[test]
    fn mobilenet_v2_costs_about_300_m_macs() {
        let macs = build_default("mobilenet-v2").totals().macs;
        assert!((295_000_000..305_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn features_end_at_seven_by_seven() {
        let g = build_default("mobilenet-v2");
        let last = g
            .ops()
            .iter()
            .find(|o| o.name == "features.18.relu6")
            .unwrap();
        assert_eq!(last.output_shape, vec![1, 1280, 7, 7]);
    }
}
