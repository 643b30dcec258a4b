//! Blocks shared by the transformer models (BERT, GPT-2, ViT): parameter checks
//! for their sizes, multi-head self-attention, the feed-forward network and the
//! pre-LN block.
//!
//! Fused projections in the reference code (GPT-2's `c_attn`, timm's `qkv`) are
//! written as separate q, k and v linears: the IR has no slice op for a consumer
//! to read one third of a fused output. The parameters and MACs are the same;
//! only the number of ops differs.

use super::{Args, ZooError};
use crate::graph::{BuildError, EltFunc, GraphBuilder, Tensor};

/// Upper bounds on transformer sizes. GPT-3 175B (96 layers, hidden 12288,
/// ffn 49152) fits; with these bounds and `batch ≤ 1024` the largest count,
/// total MACs, stays below 2^63.
const MAX_LAYERS: u64 = 256;
const MAX_HIDDEN: u64 = 16384;
const MAX_FFN: u64 = 65536;
/// Longest sequence (tokens), also bounding ViT's patch count.
pub(super) const MAX_SEQ: u64 = 8192;

/// Sizes of a transformer encoder or decoder stack.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub batch: u64,
    /// Tokens per sequence (ViT: patches plus the class token).
    pub seq: u64,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub ffn: u64,
}

impl Dims {
    /// Reads and checks `layers`, `hidden`, `heads` and `ffn`; `batch` and
    /// `seq` are the caller's, since their limits differ between models.
    pub fn read(args: &mut Args<'_>, batch: u64, seq: u64) -> Result<Dims, ZooError> {
        let layers = args.int("layers", 1..=MAX_LAYERS)?;
        let hidden = args.int("hidden", 1..=MAX_HIDDEN)?;
        let heads = args.int("heads", 1..=MAX_HIDDEN)?;
        if hidden % heads != 0 {
            return Err(args.invalid(
                "heads",
                heads,
                format!("a divisor of hidden = {hidden}, so heads have equal width"),
            ));
        }
        let ffn = args.int("ffn", 1..=MAX_FFN)?;
        Ok(Dims {
            batch,
            seq,
            layers,
            hidden,
            heads,
            ffn,
        })
    }

    /// Width of one attention head.
    fn head_dim(&self) -> u64 {
        self.hidden / self.heads
    }
}

/// Where attention applies its 1/√head_dim scale: HuggingFace BERT and GPT-2
/// scale the scores; timm's ViT scales the queries before the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScaleAt {
    Scores,
    Query,
}

/// Multi-head self-attention of `x` (`[batch, seq, hidden]`), ending with the
/// output projection. Ops are named `{prefix}.q`, `.k`, `.v`, `.scores`,
/// `.scale`, `.softmax`, `.context` and `.out`.
///
/// Splitting and merging heads are views: the score product reads q and k as
/// `batch·heads` matrices of `seq × head_dim` (k transposed), and the context
/// product writes `[batch, seq, hidden]` directly. No attention mask is
/// modelled: BERT's padding mask and GPT-2's causal mask are one add or select
/// per score, small beside the softmax, and a full-length unpadded sequence
/// needs no padding mask at all.
pub(super) fn self_attention(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    d: &Dims,
    scale_at: ScaleAt,
) -> Result<Tensor, BuildError> {
    let heads = d.batch * d.heads;
    let q = b.linear(&format!("{prefix}.q"), x, d.hidden, true)?;
    let k = b.linear(&format!("{prefix}.k"), x, d.hidden, true)?;
    let v = b.linear(&format!("{prefix}.v"), x, d.hidden, true)?;
    let q = match scale_at {
        ScaleAt::Query => b.eltwise(&format!("{prefix}.scale"), EltFunc::Scale, &[&q], 0)?,
        ScaleAt::Scores => q,
    };
    let scores = b.matmul(
        &format!("{prefix}.scores"),
        &q,
        &k,
        (heads, d.seq, d.head_dim(), d.seq),
    )?;
    let scores = match scale_at {
        ScaleAt::Scores => b.eltwise(&format!("{prefix}.scale"), EltFunc::Scale, &[&scores], 0)?,
        ScaleAt::Query => scores,
    };
    let probs = b.softmax(&format!("{prefix}.softmax"), &scores)?;
    let context = b.matmul_as(
        &format!("{prefix}.context"),
        &probs,
        &v,
        (heads, d.seq, d.seq, d.head_dim()),
        &[d.batch, d.seq, d.hidden],
    )?;
    b.linear(&format!("{prefix}.out"), &context, d.hidden, true)
}

/// The position-wise feed-forward network: `{prefix}.fc1`, `.gelu`, `.fc2`.
pub(super) fn feed_forward(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &Tensor,
    d: &Dims,
) -> Result<Tensor, BuildError> {
    let h = b.linear(&format!("{prefix}.fc1"), x, d.ffn, true)?;
    let h = b.eltwise(&format!("{prefix}.gelu"), EltFunc::Gelu, &[&h], 0)?;
    b.linear(&format!("{prefix}.fc2"), &h, d.hidden, true)
}

/// One pre-LN block, as in GPT-2 and ViT:
/// `x + attn(ln1(x))`, then `x + ffn(ln2(x))`.
pub(super) fn pre_ln_block(
    b: &mut GraphBuilder,
    layer: u64,
    x: &Tensor,
    d: &Dims,
    scale_at: ScaleAt,
) -> Result<Tensor, BuildError> {
    let p = format!("layer{layer}");
    let h = b.layer_norm(&format!("{p}.ln1"), x)?;
    let a = self_attention(b, &format!("{p}.attn"), &h, d, scale_at)?;
    let x = b.eltwise(&format!("{p}.attn.residual"), EltFunc::Add, &[x, &a], 0)?;
    let h = b.layer_norm(&format!("{p}.ln2"), &x)?;
    let f = feed_forward(b, &format!("{p}.ffn"), &h, d)?;
    b.eltwise(&format!("{p}.ffn.residual"), EltFunc::Add, &[&x, &f], 0)
}
