//! Vision transformers with 16×16 patches (timm `vit_{tiny,small,base}_patch16_224`).

use super::transformer::{self, Dims, MAX_SEQ, ScaleAt};
use super::{Args, BATCH, DTYPE, MAX_CLASSES, ModelInfo, ParamInfo, ZooError};
use crate::graph::{EltFunc, Graph};

/// Side of a square patch, in pixels.
const PATCH: u64 = 16;
/// Largest image side: 4,096 patches plus the class token stay within the
/// longest sequence the transformer blocks accept.
const MAX_IMAGE: u64 = 1024;
/// Colour channels of the input image.
const CHANNELS: u64 = 3;

macro_rules! vit_params {
    ($hidden:literal, $heads:literal, $ffn:literal) => {
        &[
            BATCH,
            DTYPE,
            ParamInfo {
                key: "image",
                default: "224",
                doc: "input height and width in pixels; a multiple of 16",
            },
            ParamInfo {
                key: "classes",
                default: "1000",
                doc: "outputs of the classification head",
            },
            ParamInfo {
                key: "layers",
                default: "12",
                doc: "transformer blocks",
            },
            ParamInfo {
                key: "hidden",
                default: $hidden,
                doc: "embedding width",
            },
            ParamInfo {
                key: "heads",
                default: $heads,
                doc: "attention heads; must divide hidden",
            },
            ParamInfo {
                key: "ffn",
                default: $ffn,
                doc: "MLP inner size (4 × hidden in timm)",
            },
        ]
    };
}

pub(super) const VIT_TI16: ModelInfo = ModelInfo {
    name: "vit-ti16",
    summary: "ViT-Ti/16 (timm vit_tiny_patch16_224): 12 blocks, width 192, 3 heads, 5.7M params",
    params: vit_params!("192", "3", "768"),
    build: build_vit,
};

pub(super) const VIT_S16: ModelInfo = ModelInfo {
    name: "vit-s16",
    summary: "ViT-S/16 (timm vit_small_patch16_224): 12 blocks, width 384, 6 heads, 22.1M params",
    params: vit_params!("384", "6", "1536"),
    build: build_vit,
};

pub(super) const VIT_B16: ModelInfo = ModelInfo {
    name: "vit-b16",
    summary: "ViT-B/16 (timm vit_base_patch16_224): 12 blocks, width 768, 12 heads, 86.6M params",
    params: vit_params!("768", "12", "3072"),
    build: build_vit,
};

/// timm `VisionTransformer` with class token, learned position embeddings,
/// pre-LN blocks, final norm over all tokens, and the head on the class token.
///
/// The patch embedding in timm is a conv with kernel = stride = 16. Here the
/// graph input is the image already cut into patches, `[batch, patches,
/// 3·16·16]` (the same bytes as the NCHW image), and the projection is a linear
/// layer: the GEMM is identical (rows = batch·patches, reduction = 3·16·16,
/// cols = width), and so are parameters and MACs. A conv would produce NCHW
/// `[batch, width, 14, 14]`, which the IR cannot re-read as tokens
/// `[batch, 196, width]` for the class-token concat without a reshape view.
fn build_vit(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let image = args.int("image", PATCH..=MAX_IMAGE)?;
    if image % PATCH != 0 {
        return Err(args.invalid("image", image, "a multiple of the 16-pixel patch size"));
    }
    let classes = args.int("classes", 1..=MAX_CLASSES)?;
    let patches = (image / PATCH) * (image / PATCH);
    const { assert!((MAX_IMAGE / PATCH) * (MAX_IMAGE / PATCH) < MAX_SEQ) };
    let d = Dims::read(args, batch, patches + 1)?;

    let mut b = args.graph(dtype);
    let pixels = b.input("patches", &[batch, patches, CHANNELS * PATCH * PATCH]);
    let tokens = b.linear("patch_embed.proj", &pixels, d.hidden, true)?;
    // The learned class token is joined in as a parameter of the concat.
    let x = b.concat(
        "cls_token",
        &[&tokens],
        1,
        vec![batch, patches + 1, d.hidden],
        d.hidden,
    )?;
    // The learned position embedding is a parameter of the add.
    let mut x = b.eltwise("pos_embed", EltFunc::Add, &[&x], (patches + 1) * d.hidden)?;
    for layer in 0..d.layers {
        x = transformer::pre_ln_block(&mut b, layer, &x, &d, ScaleAt::Query)?;
    }
    let x = b.layer_norm("norm", &x)?;
    let cls = b.first_token("head.cls", &x)?;
    b.linear("head", &cls, classes, true)?;
    args.finish(b)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_default, build_with};

    // timm 0.9: `sum(p.numel() for p in timm.create_model(name).parameters())`
    // for vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224.
    #[test]
    fn vit_parameter_counts_match_timm() {
        assert_eq!(build_default("vit-ti16").totals().params, 5_717_416);
        assert_eq!(build_default("vit-s16").totals().params, 22_050_664);
        assert_eq!(build_default("vit-b16").totals().params, 86_567_656);
    }

    #[test]
    fn vit_sequence_is_patches_plus_class_token() {
        let g = build_default("vit-b16");
        let pos = g.ops().iter().find(|o| o.name == "pos_embed").unwrap();
        assert_eq!(pos.output_shape, vec![1, 197, 768]);
        let g = build_with("vit-b16", &[("image", "384")]);
        let pos = g.ops().iter().find(|o| o.name == "pos_embed").unwrap();
        assert_eq!(pos.output_shape, vec![1, 577, 768]);
    }
}
