//! Language transformers: BERT (HuggingFace `BertModel`) and GPT-2
//! (HuggingFace `GPT2Model`, without the LM head).

use super::transformer::{self, Dims, MAX_SEQ, ScaleAt};
use super::{Args, BATCH, DTYPE, ModelInfo, ParamInfo, ZooError};
use crate::graph::{EltFunc, Graph};

/// Bounds on the embedding tables (GPT-2's vocabulary is 50,257 rows).
const MAX_VOCAB: u64 = 1 << 24;
const MAX_POSITIONS: u64 = 1 << 16;
const MAX_TYPE_VOCAB: u64 = 1024;

const SEQ: ParamInfo = ParamInfo {
    key: "seq",
    default: "128",
    doc: "tokens per sequence (at most max_positions)",
};
const LAYERS_DOC: &str = "transformer layers";
const HIDDEN_DOC: &str = "hidden size (model width)";
const HEADS_DOC: &str = "attention heads; must divide hidden";
const FFN_DOC: &str = "feed-forward inner size";
const VOCAB_DOC: &str = "rows of the token embedding table";
const POSITIONS_DOC: &str = "rows of the position embedding table (longest sequence)";

/// The parameter table of a BERT size.
macro_rules! bert_params {
    ($layers:literal, $hidden:literal, $heads:literal, $ffn:literal) => {
        &[
            BATCH,
            DTYPE,
            SEQ,
            ParamInfo {
                key: "layers",
                default: $layers,
                doc: LAYERS_DOC,
            },
            ParamInfo {
                key: "hidden",
                default: $hidden,
                doc: HIDDEN_DOC,
            },
            ParamInfo {
                key: "heads",
                default: $heads,
                doc: HEADS_DOC,
            },
            ParamInfo {
                key: "ffn",
                default: $ffn,
                doc: FFN_DOC,
            },
            ParamInfo {
                key: "vocab",
                default: "30522",
                doc: VOCAB_DOC,
            },
            ParamInfo {
                key: "max_positions",
                default: "512",
                doc: POSITIONS_DOC,
            },
            ParamInfo {
                key: "type_vocab",
                default: "2",
                doc: "rows of the token-type (segment) embedding table",
            },
            ParamInfo {
                key: "pooler",
                default: "true",
                doc: "include the pooler (dense + tanh on the first token)",
            },
        ]
    };
}

pub(super) const BERT_BASE: ModelInfo = ModelInfo {
    name: "bert-base",
    summary: "BERT-Base encoder (HuggingFace BertModel): 12 layers, hidden 768, 12 heads, 109.5M params",
    params: bert_params!("12", "768", "12", "3072"),
    build: build_bert,
};

pub(super) const BERT_LARGE: ModelInfo = ModelInfo {
    name: "bert-large",
    summary: "BERT-Large encoder (HuggingFace BertModel): 24 layers, hidden 1024, 16 heads, 335.1M params",
    params: bert_params!("24", "1024", "16", "4096"),
    build: build_bert,
};

pub(super) const GPT2_SMALL: ModelInfo = ModelInfo {
    name: "gpt2-small",
    summary: "GPT-2 small decoder (HuggingFace GPT2Model, no LM head): 12 layers, hidden 768, 124.4M params",
    params: &[
        BATCH,
        DTYPE,
        SEQ,
        ParamInfo {
            key: "layers",
            default: "12",
            doc: LAYERS_DOC,
        },
        ParamInfo {
            key: "hidden",
            default: "768",
            doc: HIDDEN_DOC,
        },
        ParamInfo {
            key: "heads",
            default: "12",
            doc: HEADS_DOC,
        },
        ParamInfo {
            key: "ffn",
            default: "3072",
            doc: FFN_DOC,
        },
        ParamInfo {
            key: "vocab",
            default: "50257",
            doc: VOCAB_DOC,
        },
        ParamInfo {
            key: "max_positions",
            default: "1024",
            doc: POSITIONS_DOC,
        },
    ],
    build: build_gpt2,
};

/// Reads `seq` after `max_positions`, since the position table bounds it.
fn read_seq(args: &mut Args<'_>) -> Result<(u64, u64), ZooError> {
    let max_positions = args.int("max_positions", 1..=MAX_POSITIONS)?;
    let seq = args.int("seq", 1..=MAX_SEQ)?;
    if seq > max_positions {
        return Err(args.invalid(
            "seq",
            seq,
            format!("at most max_positions = {max_positions} (one position embedding per token)"),
        ));
    }
    Ok((seq, max_positions))
}

/// HuggingFace `BertModel`: embeddings (word + token type + position, then
/// layer norm), post-LN encoder layers, and optionally the pooler.
fn build_bert(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let (seq, max_positions) = read_seq(args)?;
    let d = Dims::read(args, batch, seq)?;
    let vocab = args.int("vocab", 1..=MAX_VOCAB)?;
    let type_vocab = args.int("type_vocab", 1..=MAX_TYPE_VOCAB)?;
    let pooler = args.flag("pooler")?;

    let mut b = args.graph(dtype);
    let ids = b.input("input_ids", &[batch, seq]);
    let positions = b.input("position_ids", &[batch, seq]);
    let types = b.input("token_type_ids", &[batch, seq]);
    let word = b.embedding("embeddings.word", &ids, vocab, d.hidden)?;
    let token_type = b.embedding("embeddings.token_type", &types, type_vocab, d.hidden)?;
    let position = b.embedding("embeddings.position", &positions, max_positions, d.hidden)?;
    // The same order of sums as BertEmbeddings.forward.
    let x = b.eltwise(
        "embeddings.add_token_type",
        EltFunc::Add,
        &[&word, &token_type],
        0,
    )?;
    let x = b.eltwise("embeddings.add_position", EltFunc::Add, &[&x, &position], 0)?;
    let mut x = b.layer_norm("embeddings.ln", &x)?;

    for layer in 0..d.layers {
        let p = format!("layer{layer}");
        let a = transformer::self_attention(&mut b, &format!("{p}.attn"), &x, &d, ScaleAt::Scores)?;
        let h = b.eltwise(&format!("{p}.attn.residual"), EltFunc::Add, &[&a, &x], 0)?;
        let h = b.layer_norm(&format!("{p}.attn.ln"), &h)?;
        let f = transformer::feed_forward(&mut b, &format!("{p}.ffn"), &h, &d)?;
        let h = b.eltwise(&format!("{p}.ffn.residual"), EltFunc::Add, &[&f, &h], 0)?;
        x = b.layer_norm(&format!("{p}.ffn.ln"), &h)?;
    }

    if pooler {
        // BertPooler: dense + tanh on the first ([CLS]) token only.
        let cls = b.first_token("pooler.cls", &x)?;
        let h = b.linear("pooler.dense", &cls, d.hidden, true)?;
        b.eltwise("pooler.tanh", EltFunc::Tanh, &[&h], 0)?;
    }
    args.finish(b)
}

/// HuggingFace `GPT2Model`: token and position embeddings, pre-LN decoder
/// blocks (causal mask not modelled, see `transformer::self_attention`), final
/// `ln_f`. The LM head shares the token embedding's weights and is not part of
/// `GPT2Model`, so it is not built.
fn build_gpt2(args: &mut Args<'_>) -> Result<Graph, ZooError> {
    let batch = args.batch()?;
    let dtype = args.dtype()?;
    let (seq, max_positions) = read_seq(args)?;
    let d = Dims::read(args, batch, seq)?;
    let vocab = args.int("vocab", 1..=MAX_VOCAB)?;

    let mut b = args.graph(dtype);
    let ids = b.input("input_ids", &[batch, seq]);
    let positions = b.input("position_ids", &[batch, seq]);
    let token = b.embedding("wte", &ids, vocab, d.hidden)?;
    let position = b.embedding("wpe", &positions, max_positions, d.hidden)?;
    let mut x = b.eltwise("embeddings.add", EltFunc::Add, &[&token, &position], 0)?;
    for layer in 0..d.layers {
        x = transformer::pre_ln_block(&mut b, layer, &x, &d, ScaleAt::Scores)?;
    }
    b.layer_norm("ln_f", &x)?;
    args.finish(b)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_default, build_with};
    use crate::graph::OpKind;

    // HuggingFace `BertModel.from_pretrained("bert-base-uncased")`:
    // `sum(p.numel() for p in model.parameters())` is 109,482,240, and
    // 108,891,648 with `add_pooling_layer=False`; bert-large-uncased is
    // 335,141,888 and 334,092,288.
    #[test]
    fn bert_parameter_counts_match_huggingface() {
        assert_eq!(build_default("bert-base").totals().params, 109_482_240);
        assert_eq!(
            build_with("bert-base", &[("pooler", "false")])
                .totals()
                .params,
            108_891_648
        );
        assert_eq!(build_default("bert-large").totals().params, 335_141_888);
        assert_eq!(
            build_with("bert-large", &[("pooler", "false")])
                .totals()
                .params,
            334_092_288
        );
    }

    // HuggingFace `GPT2Model.from_pretrained("gpt2")` has 124,439,808
    // parameters (the LM head is tied to `wte` and not counted).
    #[test]
    fn gpt2_parameter_count_matches_huggingface() {
        assert_eq!(build_default("gpt2-small").totals().params, 124_439_808);
    }

    #[test]
    fn bert_query_projection_costs_seq_by_hidden_squared() {
        let g = build_default("bert-base");
        let q = g.ops().iter().find(|o| o.name == "layer3.attn.q").unwrap();
        assert_eq!(q.macs, 128 * 768 * 768);
        assert_eq!(
            q.kind,
            OpKind::MatMul {
                batch: 1,
                m: 128,
                k: 768,
                n: 768
            }
        );
        let scores = g
            .ops()
            .iter()
            .find(|o| o.name == "layer3.attn.scores")
            .unwrap();
        assert_eq!(
            scores.kind,
            OpKind::MatMul {
                batch: 12,
                m: 128,
                k: 64,
                n: 128
            }
        );
    }

    // Per layer 4·S·H² + 2·S·H·F (projections and FFN) + 2·S²·H (attention);
    // 12 layers at S = 128 plus the pooler's H² is 11.17 G MACs.
    #[test]
    fn bert_base_total_macs_match_the_closed_form() {
        let (s, h, f) = (128u64, 768u64, 3072u64);
        let per_layer = 4 * s * h * h + 2 * s * h * f + 2 * s * s * h;
        let expected = 12 * per_layer + h * h;
        assert_eq!(expected, 11_174_215_680);
        assert_eq!(build_default("bert-base").totals().macs, expected);
    }

    #[test]
    fn pooler_reads_only_the_first_token() {
        let g = build_with("bert-base", &[("batch", "2")]);
        let dense = g.ops().iter().find(|o| o.name == "pooler.dense").unwrap();
        assert_eq!(dense.macs, 2 * 768 * 768);
        assert_eq!(dense.output_shape, vec![2, 1, 768]);
        let cls = g.ops().iter().find(|o| o.name == "pooler.cls").unwrap();
        assert_eq!(cls.kind.name(), "slice");
        assert_eq!(cls.output_bytes, 2 * 768, "only the class tokens move on");
    }
}
