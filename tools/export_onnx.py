#!/usr/bin/env python3
"""Exports well-known models, with random weights built from their configs (no
hub downloads), as *graph-only* ONNX files for tessera's ONNX importer tests.

Optional tool: the Rust test suite does not need it, it only reads the files
this script wrote into tests/data/onnx/ (committed). To regenerate them, from
the repository root:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r tools/requirements-onnx.txt \
        && /tmp/venv/bin/python tools/export_onnx.py

Options: --out DIR (default tests/data/onnx), --models a,b,c (default all),
--no-macs (skip the MAC count), --opset N (default 17, 18 with --exporter
dynamo; must be 13..21), --exporter torchscript|dynamo (default torchscript),
--stock (with --exporter dynamo: the unmodified BERT, GPT-2 and ViT).

`--wild` exports stock BERT-base (called with its attention_mask), ViT-B/16
and ResNet-18 with both exporters at their defaults into OUT/wild/, each
saved graph-only and with save_as_external_data=True, size_threshold=0 (see
WILD_DOC below and tests/data/onnx/README.md); `--models` then picks among
bert-base-mask, vit-b16 and resnet18.

`--models light` (also part of the default run; needs only onnx) converts the
two Caffe2-made "light" models in OUT/onnx_light/ (light_densenet121.onnx and
light_inception_v2.onnx, copied from the onnx package's test data, opset 9)
to opset 13 with onnx.version_converter.convert_version(model, 13), and writes
them next to the originals as <name>_opset13.onnx. They stay graph-only: the
files hold no weight data (each weight is a ConstantOfShape of an inline
`<weight>__SHAPE` initializer, which the converter leaves as it is). No fix-up
is needed with onnx 1.23.2: the converter accepts the IR-3 layout (every
initializer also listed in graph.input) and keeps it, and keeps ir_version 3.
What it changes: each Unsqueeze's `axes` attribute becomes an int64 Constant
node feeding the Unsqueeze (opset 13); Softmax gets `axis = -1` (the same
result on inception's [1, 1000] logits as opset 9's default axis 1); and it
adds a value_info (inferred shape) for every intermediate value. Nodes,
initializers, inputs and outputs are otherwise unchanged. The converted model
passes onnx.checker.check_model(full_check=True) before it is written, and
re-running gives byte-identical files.

`--exporter dynamo` exports the same five models (same wrappers, same seed)
with torch.onnx.export's own default exporter, dynamo=True (torch.export, then
onnxscript's optimizer; opset 18 unless --opset), into OUT/dynamo/<name>.onnx
and OUT/dynamo/models.json:
    prog = torch.onnx.export(wrapper, (x,), dynamo=True, opset_version=18,
                             input_names=[...], output_names=[...],
                             dynamic_shapes=({0: Dim("batch"), 1: Dim("sequence", max=1024)},))
The graph-only rule is applied to prog.model_proto, which holds every
initializer inline (nothing is saved through prog.save, which would write
external data of its own). Each node's metadata_props (Python stack trace,
FX node, module path: about 90% of the bytes, with local paths) are dropped.
The optimizer folds every BatchNormalization into the Conv before it, so the
files have one bias of C where the model has BN's 2*C parameters
(framework_batchnorm_channels in models.json). The wrappers are kept (a
symbolic batch, the TorchScript files' graphs); `--stock` exports the
unmodified BERT, GPT-2 and ViT instead, into OUT/dynamo/stock/: there GPT-2
and ViT get a batch of 1 fixed by torch.export, GPT-2 builds its mask with
CumSum/GatherND/And/Max, and BERT gathers its token-type buffer with
GatherElements.

Export settings (the same for every model, also written into models.json):
    torch.onnx.export(wrapper, (x,), path, dynamo=False, opset_version=17,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=True, input_names=[...],
                      output_names=[...], dynamic_axes={...})
with the model in eval mode. TrainingMode.PRESERVE (model in eval mode, so
BatchNorm still uses its running statistics and Dropout is a no-op) skips the
exporter's eval-mode peephole pass that would fuse BatchNormalization into the
preceding Conv, so BatchNormalization nodes, and the parameter count, are kept.
Constant folding stays on (it does not fuse BN; it does pre-transpose Linear
weights for MatMul, which keeps their element count).
Transformers models are built with attn_implementation="eager" so attention is
plain MatMul/Softmax instead of a fused SDPA op; BERT and GPT-2 take only
`input_ids` (no attention_mask / token_type_ids inputs: no padding, token type
0), which keeps the graph simple. Thin wrappers that share the model's own
parameters keep every exported op within a small plain-op set (see build()):
BERT gets token_type_ids = zeros_like(input_ids); GPT-2 gets position ids
sliced from a constant and a 4-D additive causal mask built from plain ops
(instead of Range/comparisons/aten::diff); ViT's nn.MultiheadAttention is
swapped for a plain self-attention over the same Parameters. Each wrapper's
output is checked against the unmodified model before export.

Graph-only rule (GRAPH-ONLY RULE): after export, every initializer is turned
into an external-data reference (data_location=EXTERNAL, external_data entries
location=<name>.weights, offset, length, as onnx's own converter writes them)
whose data file is NOT written/kept, EXCEPT initializers that a reader may
need to constant-fold shapes: a tensor stays inline when it has <= 64
elements (any data type), or when it is not a floating-point tensor and has
<= 4096 elements (int64 shape/index tensors, e.g. Reshape targets, position
ids). Every initializer keeps its name, dims and data_type, so parameter
counts and shapes can be read without the weights.

Determinism: torch/random/numpy are seeded and the export is single-threaded
TorchScript tracing, so re-running gives the same graph (node names included);
the weights are random but are stripped anyway.
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import random
import sys
import tempfile

OPSET_DEFAULT = 17
OPSET_DYNAMO = 18  # torch.onnx.export(dynamo=True)'s own default in torch 2.15
INLINE_MAX_ANY = 64  # <= this many elements: inline whatever the type
INLINE_MAX_NONFLOAT = 4096  # non-float tensors up to this many elements: inline

# Ops the tessera importer plans to support (for the report only).
SUPPORTED_OPS = set(
    "MatMul Gemm Conv Relu Gelu Erf Tanh Sigmoid Add Sub Mul Div Pow Sqrt Softmax "
    "LayerNormalization BatchNormalization ReduceMean Reshape Transpose Flatten "
    "Squeeze Unsqueeze Concat Split Slice Gather Expand Where Cast Shape Constant "
    "ConstantOfShape Identity MaxPool AveragePool GlobalAveragePool Range Equal Less Greater "
    "LessOrEqual GreaterOrEqual Not And Or Xor Max Min CumSum GatherND GatherElements".split()
)

PUBLISHED_PARAMS = {
    "bert-base": 109_482_240,
    "gpt2-small": 124_439_808,
    "resnet50": 25_557_032,
    "vit-b16": 86_567_656,
    "efficientnet-b0": 5_288_548,
}

SEQ_LEN = 128  # example / MAC-count sequence length
IMG = 224


def seed_all(seed: int = 0) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------- models
def randomize_(model) -> None:
    """Gives every parameter (and BatchNorm running statistic) distinct random
    values. Freshly initialised models have many bit-identical tensors (all
    BatchNorm/LayerNorm weights are 1, biases 0), and the TorchScript exporter
    de-duplicates identical initializers into one tensor plus Identity nodes,
    which would hide parameters from anyone counting initializers."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.1, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)


def _plain_mha(mha, seq_len: int):
    """A drop-in replacement for torchvision's batch_first nn.MultiheadAttention
    (self-attention, no mask, need_weights=False) that reuses the SAME
    Parameter objects (in_proj_weight/bias, out_proj) so names and counts are
    unchanged, but traces to plain MatMul/Add/Reshape/Transpose/Gather/Mul/
    Softmax with constant Reshape targets. nn.MultiheadAttention itself traces
    to a dynamic-shape tangle with Mod/Equal/Sqrt (from unflatten and SDPA)."""
    import torch

    class PlainSelfAttention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.in_proj_weight = mha.in_proj_weight
            self.in_proj_bias = mha.in_proj_bias
            self.out_proj = mha.out_proj
            self.h = mha.num_heads
            self.e = mha.embed_dim
            self.d = mha.embed_dim // mha.num_heads
            self.s = seq_len
            self.scale = float(self.d) ** -0.5

        def forward(self, q, k, v, need_weights=False):
            x = q  # self-attention: q is k is v
            qkv = torch.nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
            qkv = qkv.reshape(-1, self.s, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
            qh, kh, vh = qkv[0], qkv[1], qkv[2]  # [B, H, S, D]
            att = torch.softmax(torch.matmul(qh, kh.transpose(-2, -1)) * self.scale, dim=-1)
            o = torch.matmul(att, vh).transpose(1, 2).reshape(-1, self.s, self.e)
            return self.out_proj(o), None

    return PlainSelfAttention()


def build(name: str):
    """Returns (framework_model, export_module, example_input, input_name,
    output_names, dynamic_axes, description). framework_model is the
    unmodified model whose parameters are counted; export_module is a thin
    wrapper that shares its parameters (checked numerically in export_one)."""
    import torch

    if name in ("bert-base", "gpt2-small"):
        import transformers

        if name == "bert-base":
            cfg = transformers.BertConfig()  # == bert-base-uncased
            cfg._attn_implementation = "eager"
            model = transformers.BertModel(cfg, add_pooling_layer=True)
            outs = ["last_hidden_state", "pooler_output"]

            class W(torch.nn.Module):
                # token_type_ids = zeros_like(input_ids) (ConstantOfShape)
                # instead of BERT's default expand(-1)+gather of its buffer,
                # which exports Equal/Where/GatherElements. No attention mask:
                # with eager attention and no padding HF adds no mask at all.
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, input_ids):
                    o = self.m(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids), return_dict=True)
                    return o.last_hidden_state, o.pooler_output

            desc = ("transformers.BertModel(BertConfig()) (bert-base-uncased shape, with pooler), eager attention, "
                    "input_ids only (token_type_ids = 0, no attention mask)")
        else:
            cfg = transformers.GPT2Config(use_cache=False)
            cfg._attn_implementation = "eager"
            model = transformers.GPT2Model(cfg)
            outs = ["last_hidden_state"]

            class W(torch.nn.Module):
                # GPT-2 would build position ids with arange (Range) and its
                # causal mask with vmap/arange/comparison ops (and in
                # transformers 5 an aten::diff packed-sequence check that the
                # exporter cannot even convert). Instead position ids are a
                # Slice of a constant int64 [1, n_positions] buffer and the
                # causal mask is a 4-D additive mask built with plain ops:
                #   mask[q, k] = -1e9 * Relu(pos[k] - pos[q])   (0 on/below the diagonal)
                # which HF adds to the attention scores as-is.
                def __init__(self, m, n_positions):
                    super().__init__()
                    self.m = m
                    self.register_buffer("positions", torch.arange(n_positions, dtype=torch.long)[None, :], persistent=False)

                def forward(self, input_ids):
                    s = input_ids.shape[1]
                    pos = self.positions[:, :s]  # [1, S]
                    pf = pos.to(torch.float32)
                    mask = torch.relu(pf[:, None, None, :] - pf[:, None, :, None]) * -1e9  # [1, 1, S, S]
                    o = self.m(input_ids=input_ids, position_ids=pos, attention_mask=mask,
                               use_cache=False, return_dict=True)
                    return o.last_hidden_state

            desc = ("transformers.GPT2Model(GPT2Config(use_cache=False)) (no LM head), eager attention, input_ids only; "
                    "position ids and a 4-D additive causal mask are passed in, built from plain ops")
        model.eval()
        randomize_(model)
        wrapper = (W(model) if name == "bert-base" else W(model, cfg.n_positions)).eval()
        x = torch.randint(0, cfg.vocab_size, (1, SEQ_LEN), dtype=torch.long)
        dyn = {"input_ids": {0: "batch", 1: "sequence"}}
        for o in outs:
            dyn[o] = {0: "batch", 1: "sequence"} if o == "last_hidden_state" else {0: "batch"}
        return model, wrapper, x, "input_ids", outs, dyn, desc

    import torchvision

    ctor = {
        "resnet50": torchvision.models.resnet50,
        "vit-b16": torchvision.models.vit_b_16,
        "efficientnet-b0": torchvision.models.efficientnet_b0,
    }[name]
    model = ctor(weights=None).eval()
    randomize_(model)
    x = torch.randn(1, 3, IMG, IMG)
    dyn = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    desc = f"torchvision.models.{ctor.__name__}(weights=None)"
    if name != "vit-b16":
        return model, model, x, "pixel_values", ["logits"], dyn, desc

    # ViT: export a copy whose attention modules are PlainSelfAttention (same
    # parameters), and whose forward broadcasts the class token with an Add
    # broadcast by an Add (expand(n, -1, -1), and even expand(n, 1, 768) with a
    # traced n, exports Equal + Where).
    vit = copy.deepcopy(model)
    for layer in vit.encoder.layers:
        layer.self_attention = _plain_mha(layer.self_attention, vit.seq_length)

    class V(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            m = self.m
            h = m._process_input(pixel_values)  # conv_proj -> [B, 196, 768]
            cls = torch.zeros_like(h[:, :1, :]) + m.class_token  # [B, 1, 768]
            h = m.encoder(torch.cat([cls, h], dim=1))
            return m.heads(h[:, 0])

    desc += ("; exported through an equivalent forward: nn.MultiheadAttention replaced by plain-op self-attention "
             "sharing its parameters, class token broadcast by adding it to zeros_like(h[:, :1, :])")
    return model, V(vit).eval(), x, "pixel_values", ["logits"], dyn, desc


MODEL_NAMES = list(PUBLISHED_PARAMS)
# The models whose export uses a wrapper (ResNet-50 and EfficientNet-B0 are
# exported stock anyway).
STOCK_NAMES = ["bert-base", "gpt2-small", "vit-b16"]


# ----------------------------------------------------------------- graph-only
def keep_inline(t) -> bool:
    from onnx import TensorProto

    n = 1
    for d in t.dims:
        n *= d
    floaty = t.data_type in (
        TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16,
    )
    if n <= INLINE_MAX_ANY:
        return True
    return (not floaty) and n <= INLINE_MAX_NONFLOAT


def strip_to_graph_only(model, location: str) -> None:
    """Applies GRAPH-ONLY RULE in place: large tensors become external
    references into `location` (a file that is never written)."""
    from onnx import TensorProto
    from onnx import numpy_helper

    offset = 0
    for t in model.graph.initializer:
        if keep_inline(t):
            continue
        nbytes = numpy_helper.to_array(t).nbytes
        for f in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
            t.ClearField(f)
        del t.external_data[:]
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)), ("length", str(nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        # onnx's converter aligns offsets to 4096 when writing; keep that layout
        offset += nbytes
        offset = (offset + 4095) // 4096 * 4096


# ----------------------------------------------------------------- analysis
def dims_of(vi):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in vi.type.tensor_type.shape.dim]


def count_macs(model, concrete: dict) -> dict:
    """MACs of MatMul/Gemm/Conv with symbolic dims bound (batch=1,
    sequence=128), from onnx shape inference on the graph-only model."""
    import onnx

    m = copy.deepcopy(model)
    for i in m.graph.input:
        for d in i.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in concrete:
                v = concrete[d.dim_param]
                d.Clear()
                d.dim_value = v
    del m.graph.value_info[:]
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = dims_of(vi)
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)

    def prod(xs):
        p = 1
        for x in xs:
            p *= x
        return p

    per_op = collections.Counter()
    unresolved = []
    for n in m.graph.node:
        if n.op_type not in ("MatMul", "Gemm", "Conv"):
            continue
        try:
            out = shapes[n.output[0]]
            if not all(isinstance(v, int) and v > 0 for v in out):
                raise KeyError
            if n.op_type == "MatMul":
                a = shapes[n.input[0]]
                k = a[-1]
            elif n.op_type == "Gemm":
                a = shapes[n.input[0]]
                trans_a = next((at.i for at in n.attribute if at.name == "transA"), 0)
                k = a[0] if trans_a else a[1]
            else:
                w = shapes[n.input[1]]
                k = prod(w[1:])
            if not isinstance(k, int) or k <= 0:
                raise KeyError
            per_op[n.op_type] += prod(out) * k
        except KeyError:
            unresolved.append(n.name)
    # all outputs resolved?
    outs = {o.name: dims_of(o) for o in m.graph.output}
    return {
        "total": sum(per_op.values()),
        "by_op": dict(per_op),
        "complete": not unresolved,
        "unresolved_nodes": unresolved,
        "note": "onnx.shape_inference (data_prop=True) with the symbolic dims bound; it cannot "
        "resolve e.g. a Slice whose ends come from Shape, so a model with unresolved nodes "
        "has only a partial total (see the torch FlopCounterMode figure instead)",
        "bound_dims": concrete,
        "inferred_output_shapes": outs,
    }


# ----------------------------------------------------------------- main
def bn_channels(model) -> int:
    """Channels of every BatchNorm in `model`: the parameters the dynamo
    exporter's optimizer removes when it folds each BatchNormalization (2·C
    parameters) into the preceding Conv (a bias of C)."""
    import torch

    return sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


def strip_dynamo_metadata(model):
    """Drops the metadata_props a dynamo export puts on every node (its Python
    stack trace, FX node and module path: about 90% of the file, and full of
    local paths), and those of values, initializers, the graph and the model."""
    for n in model.graph.node:
        del n.metadata_props[:]
        n.doc_string = ""
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        del v.metadata_props[:]
    for t in model.graph.initializer:
        del t.metadata_props[:]
    del model.graph.metadata_props[:]
    del model.metadata_props[:]


def export_one(name: str, out_dir: str, opset: int, macs: bool, exporter: str = "torchscript",
               stock: bool = False) -> dict:
    import onnx
    import torch
    import torchvision
    import transformers

    seed_all(0)
    fw_model, mod, x, in_name, out_names, dyn, desc = build(name)
    if stock:
        # The unmodified model, as a user exports it (--stock, dynamo only).
        mod = fw_model
        desc = desc.split(";")[0] + "; stock forward, no wrapper"
    n_params = sum(p.numel() for p in fw_model.parameters())
    n_params_export = sum(p.numel() for p in mod.parameters())
    if n_params_export != n_params:
        raise SystemExit(f"{name}: export module has {n_params_export} parameters, model {n_params}")
    # the export wrapper must compute what the untouched model computes
    with torch.no_grad():
        ref = fw_model(x)
        got = None if stock else mod(x)
        if name in ("bert-base", "gpt2-small"):
            ref = (ref.last_hidden_state,) + ((ref.pooler_output,) if name == "bert-base" else ())
        if stock:
            got = ref
        got = got if isinstance(got, tuple) else (got,)
        ref = ref if isinstance(ref, tuple) else (ref,)
        max_abs_diff = max(float((a - b).abs().max()) for a, b in zip(ref, got))
    macs_torch = None
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            mod(x)
        macs_torch = {
            "total": fc.get_total_flops() // 2,
            "by_aten_op": {str(k): v // 2 for k, v in fc.get_flop_counts().get("Global", {}).items()},
            "method": "torch.utils.flop_counter.FlopCounterMode on the export module, FLOPs/2, batch=1"
            + (f", sequence={SEQ_LEN}" if name in ("bert-base", "gpt2-small") else ", 224x224"),
        }
    except Exception as e:  # noqa: BLE001
        macs_torch = {"error": repr(e)}
    if max_abs_diff > 1e-3:
        raise SystemExit(f"{name}: export wrapper differs from the model by {max_abs_diff}")

    if exporter == "dynamo":
        # torch.export needs each dynamic input dim as a Dim; the names become
        # the ONNX dim_params. GPT-2's positions buffer has 1024 rows.
        dims = {ax: torch.export.Dim(dn, max=1024) if dn == "sequence" else torch.export.Dim(dn)
                for ax, dn in dyn[in_name].items()}
        kwargs = dict(
            dynamo=True,
            opset_version=opset,
            input_names=[in_name],
            output_names=out_names,
            dynamic_shapes=(dims,),
        )
        # The ONNXProgram holds the whole model in memory; its model_proto has
        # every initializer inline (save() would write a model over 2 GB, or
        # with external_data=True, as an .onnx plus an .onnx.data file). The
        # graph-only rule is applied to this proto below, as for TorchScript.
        prog = torch.onnx.export(mod, (x,), **kwargs)
        model = prog.model_proto
        strip_dynamo_metadata(model)
    else:
        kwargs = dict(
            dynamo=False,
            opset_version=opset,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=True,
            export_params=True,
            keep_initializers_as_inputs=False,
            input_names=[in_name],
            output_names=out_names,
            dynamic_axes=dyn,
        )
        with tempfile.TemporaryDirectory() as td:
            tmp = os.path.join(td, f"{name}.onnx")
            torch.onnx.export(mod, (x,), tmp, **kwargs)
            model = onnx.load(tmp, load_external_data=True)

    # The exporter sometimes leaves a static output dim symbolic (GPT-2's
    # hidden size comes out of a dynamic view()). Declare every dim that is not
    # a dynamic axis with the size torch computed.
    got_shapes = [tuple(t.shape) for t in got]
    for o, shp in zip([] if stock else model.graph.output, got_shapes):
        dyn_axes = dyn.get(o.name, {})
        for i, d in enumerate(o.type.tensor_type.shape.dim):
            if i in dyn_axes:
                if d.dim_param != dyn_axes[i]:
                    d.Clear()
                    d.dim_param = dyn_axes[i]
            elif not d.HasField("dim_value") or d.dim_value != shp[i]:
                d.Clear()
                d.dim_value = shp[i]
    onnx.checker.check_model(model, full_check=True)
    model.producer_name = "tessera tools/export_onnx.py via " + (model.producer_name or "pytorch")
    model.doc_string = (
        f"{desc}; random weights (seed 0), graph-only: initializers with more than "
        f"{INLINE_MAX_ANY} elements (or non-float ones with more than {INLINE_MAX_NONFLOAT}) "
        f"reference external data '{name}.weights' that is not shipped."
    )

    inits = model.graph.initializer
    float_types = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    init_elems_float = 0
    init_elems_all = 0
    bn_stats = set()
    for n in model.graph.node:
        if n.op_type == "BatchNormalization":
            bn_stats.update(n.input[3:5])
    bn_stat_elems = 0
    for t in inits:
        e = 1
        for d in t.dims:
            e *= d
        init_elems_all += e
        if t.data_type in float_types:
            init_elems_float += e
            if t.name in bn_stats:
                bn_stat_elems += e
    # Float Constant nodes holding more than a scalar (the dynamo exporter's
    # optimizer folds some tensors into Constant nodes; none is expected).
    big_float_constants = []
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.t.data_type in float_types:
                    e = 1
                    for d in a.t.dims:
                        e *= d
                    if e > INLINE_MAX_ANY:
                        big_float_constants.append([n.output[0], list(a.t.dims)])
    if big_float_constants:
        raise SystemExit(f"{name}: float Constant nodes over {INLINE_MAX_ANY} elements: {big_float_constants}")

    strip_to_graph_only(model, f"{name}.weights")
    # (onnx.checker refuses external references to a missing file, so the
    # full check above is done on the in-memory model before stripping.)
    path = os.path.join(out_dir, f"{name}.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))

    hist = collections.Counter(n.op_type for n in model.graph.node)
    hist = dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))
    outside = sorted(op for op in hist if op not in SUPPORTED_OPS)
    info = {
        "file": f"{name}.onnx",
        "bytes": os.path.getsize(path),
        "source": desc,
        "framework_parameter_count": n_params,
        "framework_parameter_count_note": "sum(p.numel() for p in model.parameters()) of the framework model (source of truth)",
        "published_parameter_count": PUBLISHED_PARAMS[name],
        "export_wrapper_max_abs_diff_vs_model": max_abs_diff,
        "exporter": exporter + (" (stock model, no wrapper)" if stock else ""),
        "framework_batchnorm_channels": bn_channels(fw_model),
        "onnx_initializers": len(inits),
        "onnx_initializer_elements_all": init_elems_all,
        "onnx_initializer_elements_float": init_elems_float,
        "onnx_batchnorm_running_stat_elements": bn_stat_elems,
        "inline_initializers": sum(1 for t in inits if t.data_location != onnx.TensorProto.EXTERNAL),
        "nodes": len(model.graph.node),
        "op_histogram": hist,
        "ops_outside_supported_list": outside,
        "opset": [{"domain": o.domain, "version": o.version} for o in model.opset_import],
        "ir_version": model.ir_version,
        "inputs": [{"name": i.name, "dims": dims_of(i), "elem_type": onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type)} for i in model.graph.input],
        "outputs": [{"name": o.name, "dims": dims_of(o), "elem_type": onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type)} for o in model.graph.output],
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            **({"onnxscript": __import__("onnxscript").__version__} if exporter == "dynamo" else {}),
        },
        "export_call": "torch.onnx.export(model, (x,), "
        + ("" if exporter == "dynamo" else "f, ")
        + ", ".join(
            f"{k}={('torch.onnx.TrainingMode.PRESERVE' if k == 'training' else repr(v))}" for k, v in kwargs.items()
        )
        + f") with model.eval(), example x of shape {list(x.shape)}",
        "graph_only_rule": f"initializer inline iff elements <= {INLINE_MAX_ANY}, or non-float and elements <= {INLINE_MAX_NONFLOAT}; otherwise data_location=EXTERNAL, location={name}.weights (not shipped)",
    }
    info["macs_torch_flop_counter_computed_by_export_onnx_py"] = macs_torch
    if macs:
        bind = {"batch": 1, "sequence": SEQ_LEN}
        try:
            info["macs_onnx_shape_inference_computed_by_export_onnx_py"] = count_macs(model, bind)
        except Exception as e:  # noqa: BLE001 - report, don't fail the export
            info["macs_onnx_shape_inference_computed_by_export_onnx_py"] = {"error": repr(e)}
    return info


# ----------------------------------------------------------------- wild
# `--wild`: models exported as users export them (stock forward, the
# exporters' defaults, no wrappers), each saved the two usual ways. See
# WILD_DOC below and tests/data/onnx/wild/README.md.
WILD_MODELS = ("bert-base-mask", "vit-b16", "resnet18")
WILD_EXPORTERS = ("torchscript", "dynamo")
# Integer initializers up to this many elements are kept in the truncated
# external data file of a `.ext.onnx` (shape arithmetic: Reshape targets,
# ReduceMean axes, position ids); every float tensor lies past its end.
WILD_DATA_MAX_INT_ELEMENTS = 4096

WILD_DOC = """For each model and exporter two files are written into OUT/wild/:
  <model>.<exporter>.onnx      weights inline at export, then stripped by the
                               graph-only rule (large tensors point to
                               <model>.<exporter>.weights, not shipped);
  <model>.<exporter>.ext.onnx  onnx.save_model(model, path,
                               save_as_external_data=True,
                               all_tensors_to_one_file=True,
                               location='<model>.<exporter>.ext.onnx.data',
                               size_threshold=0): every initializer external.
The initializers are ordered integer tensors first before that save (order has
no meaning in ONNX), so the data file begins with every small integer tensor;
it is then truncated after the last of them, which keeps the committed data
file to a few KiB while every offset stays as onnx wrote it (float tensors
point past the end: tessera never reads them)."""


def build_wild(name: str):
    """(model, example args, input names, output names, dynamic axes, description)
    of a stock model, called as its users call it."""
    import torch

    if name == "bert-base-mask":
        import transformers

        cfg = transformers.BertConfig()
        model = transformers.BertModel(cfg).eval()
        randomize_(model)
        ids = torch.randint(0, cfg.vocab_size, (1, SEQ_LEN), dtype=torch.long)
        mask = torch.ones(1, SEQ_LEN, dtype=torch.long)
        mask[:, SEQ_LEN - 16:] = 0  # padded tail, as a tokenizer makes it

        class B(torch.nn.Module):
            # Only unpacks the ModelOutput into a tuple; the call is
            # BertModel(input_ids, attention_mask), the stock forward.
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                o = self.m(input_ids=input_ids, attention_mask=attention_mask)
                return o.last_hidden_state, o.pooler_output

        dyn = {
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"},
            "pooler_output": {0: "batch"},
        }
        return (model, B(model).eval(), (ids, mask), ["input_ids", "attention_mask"],
                ["last_hidden_state", "pooler_output"], dyn,
                "transformers.BertModel(BertConfig()) (default attention implementation), called as "
                "model(input_ids, attention_mask)")
    import torchvision

    ctor = {"vit-b16": torchvision.models.vit_b_16, "resnet18": torchvision.models.resnet18}[name]
    model = ctor(weights=None).eval()
    randomize_(model)
    x = torch.randn(1, 3, IMG, IMG)
    dyn = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    return (model, model, (x,), ["pixel_values"], ["logits"], dyn,
            f"torchvision.models.{ctor.__name__}(weights=None), stock forward")


def wild_export(name: str, exporter: str, out_dir: str) -> dict:
    import onnx
    import torch

    seed_all(0)
    fw, mod, args, in_names, out_names, dyn, desc = build_wild(name)
    n_params = sum(p.numel() for p in fw.parameters())
    if exporter == "dynamo":
        # One named Dim per symbolic dim, shared by the inputs that have it,
        # so the ONNX dim_params are "batch" and "sequence" (BERT's position
        # table has 512 rows).
        named = {"batch": torch.export.Dim("batch"), "sequence": torch.export.Dim("sequence", max=512)}
        shapes = [{ax: named[dn] for ax, dn in dyn[n].items()} for n in in_names]
        call = dict(dynamo=True, input_names=in_names, output_names=out_names, dynamic_shapes=tuple(shapes))
        prog = torch.onnx.export(mod, args, **call)
        model = prog.model_proto
        strip_dynamo_metadata(model)
    else:
        call = dict(dynamo=False, input_names=in_names, output_names=out_names, dynamic_axes=dyn)
        with tempfile.TemporaryDirectory() as td:
            tmp = os.path.join(td, "m.onnx")
            torch.onnx.export(mod, args, tmp, **call)
            model = onnx.load(tmp, load_external_data=True)
    onnx.checker.check_model(model, full_check=True)
    model.producer_name = "tessera tools/export_onnx.py --wild via " + (model.producer_name or "pytorch")
    model.doc_string = f"{desc}; random weights (seed 0); exporter {exporter}"
    stem = f"{name}.{exporter}"

    # External data exactly as onnx.save_model writes it, integers first.
    ext = copy.deepcopy(model)
    floaty = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)
    inits = sorted(ext.graph.initializer, key=lambda t: t.data_type in floaty)
    ordered = [copy.deepcopy(t) for t in inits]
    del ext.graph.initializer[:]
    ext.graph.initializer.extend(ordered)
    ext_path = os.path.join(out_dir, f"{stem}.ext.onnx")
    data_name = f"{stem}.ext.onnx.data"
    data_path = os.path.join(out_dir, data_name)
    if os.path.exists(data_path):
        os.remove(data_path)
    onnx.save_model(ext, ext_path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=0)
    saved = onnx.load(ext_path, load_external_data=False)
    keep_end = 0
    for t in saved.graph.initializer:
        kv = {e.key: e.value for e in t.external_data}
        n = 1
        for d in t.dims:
            n *= d
        if t.data_type not in floaty and n <= WILD_DATA_MAX_INT_ELEMENTS:
            keep_end = max(keep_end, int(kv.get("offset", 0)) + int(kv["length"]))
    with open(data_path, "r+b") as f:
        f.truncate(keep_end)

    strip_to_graph_only(model, f"{stem}.weights")
    path = os.path.join(out_dir, f"{stem}.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))

    hist = collections.Counter(n.op_type for n in model.graph.node)
    bn_folded = "BatchNormalization" not in hist and bn_channels(fw) > 0
    expected = n_params - (bn_channels(fw) if bn_folded else 0)
    return {
        "files": [f"{stem}.onnx", f"{stem}.ext.onnx", data_name],
        "bytes": {f"{stem}.onnx": os.path.getsize(path), f"{stem}.ext.onnx": os.path.getsize(ext_path),
                  data_name: os.path.getsize(data_path)},
        "source": desc,
        "exporter": exporter,
        "framework_parameter_count": n_params,
        "framework_parameter_count_note": "sum(p.numel() for p in model.parameters())",
        "framework_batchnorm_channels": bn_channels(fw),
        "batchnorm_folded_into_conv": bn_folded,
        "expected_import_parameter_count": expected,
        "expected_import_parameter_count_note": "the framework's count, less one per BatchNorm channel when the "
        "exporter folded every BatchNormalization (scale and shift, 2·C) into its Conv's bias (C)",
        "nodes": len(model.graph.node),
        "value_infos": len(model.graph.value_info),
        "op_histogram": dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        "opset": [{"domain": o.domain, "version": o.version} for o in model.opset_import],
        "inputs": [{"name": i.name, "dims": dims_of(i)} for i in model.graph.input],
        "export_call": "torch.onnx.export(model, args, " + ("" if exporter == "dynamo" else "f, ")
        + ", ".join(f"{k}={v!r}" for k, v in call.items()) + ")",
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__},
    }


def export_wild(out_dir: str, names) -> None:
    d = os.path.join(out_dir, "wild")
    os.makedirs(d, exist_ok=True)
    manifest_path = os.path.join(d, "models.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f).get("models", {})
    import torch

    torch.set_num_threads(1)
    for name in names:
        for exporter in WILD_EXPORTERS:
            info = wild_export(name, exporter, d)
            key = f"{name}.{exporter}"
            manifest[key] = info
            print(f"== {key}: {info['nodes']} nodes, params {info['framework_parameter_count']:,} "
                  f"(import expects {info['expected_import_parameter_count']:,}), bytes {info['bytes']}")
            print("   ops:", info["op_histogram"])
            sys.stdout.flush()
    order = [f"{n}.{e}" for n in WILD_MODELS for e in WILD_EXPORTERS]
    manifest = {k: manifest[k] for k in order if k in manifest}
    with open(manifest_path, "w") as f:
        json.dump({"generated_by": "tools/export_onnx.py --wild", "layout": WILD_DOC, "models": manifest},
                  f, indent=2)
        f.write("\n")


LIGHT_MODELS = ("light_densenet121", "light_inception_v2")
LIGHT_OPSET = 13


def convert_light(out_dir: str) -> None:
    """Converts the opset-9 light models in OUT/onnx_light/ to opset 13."""
    import onnx
    from onnx import version_converter

    d = os.path.join(out_dir, "onnx_light")
    for name in LIGHT_MODELS:
        src = os.path.join(d, f"{name}.onnx")
        model = onnx.load(src, load_external_data=False)
        before = collections.Counter(n.op_type for n in model.graph.node)
        conv = version_converter.convert_version(model, LIGHT_OPSET)
        onnx.checker.check_model(conv, full_check=True)
        dst = os.path.join(d, f"{name}_opset{LIGHT_OPSET}.onnx")
        with open(dst, "wb") as f:
            f.write(conv.SerializeToString(deterministic=True))
        after = collections.Counter(n.op_type for n in conv.graph.node)
        added = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        print(f"== {name}: opset {[o.version for o in model.opset_import]} -> "
              f"{[o.version for o in conv.opset_import]}, IR {conv.ir_version}, {os.path.getsize(dst)} bytes, "
              f"{len(conv.graph.node)} nodes (added {added}) -> {dst}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("tests", "data", "onnx"))
    ap.add_argument("--models", default=None,
                    help="comma-separated subset of " + ",".join(MODEL_NAMES + ["light"]))
    ap.add_argument("--opset", type=int, default=None,
                    help=f"default {OPSET_DEFAULT}, or {OPSET_DYNAMO} with --exporter dynamo")
    ap.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                    help="torchscript (dynamo=False, the default here) or dynamo (torch.onnx.export's own default), "
                    "which writes OUT/dynamo/<name>.onnx and OUT/dynamo/models.json")
    ap.add_argument("--stock", action="store_true",
                    help="with --exporter dynamo: export the unmodified models (no wrappers) of "
                    + ",".join(STOCK_NAMES) + " into OUT/dynamo/stock/")
    ap.add_argument("--no-macs", action="store_true")
    ap.add_argument("--wild", action="store_true",
                    help="export the stock " + ",".join(WILD_MODELS) + " with both exporters into OUT/wild/ "
                    "(graph-only and save_as_external_data files); --models picks a subset of those")
    args = ap.parse_args()
    if args.wild:
        names = [m.strip() for m in (args.models or ",".join(WILD_MODELS)).split(",") if m.strip()]
        bad = [m for m in names if m not in WILD_MODELS]
        if bad:
            ap.error(f"unknown model(s) {bad} for --wild; choose from {list(WILD_MODELS)}")
        export_wild(args.out, names)
        return 0
    if args.stock and args.exporter != "dynamo":
        ap.error("--stock needs --exporter dynamo")
    if args.opset is None:
        args.opset = OPSET_DYNAMO if args.exporter == "dynamo" else OPSET_DEFAULT
    if not 13 <= args.opset <= 21:
        ap.error("--opset must be within 13..21")
    names = [m.strip() for m in (args.models or ",".join(MODEL_NAMES + ["light"])).split(",") if m.strip()]
    bad = [m for m in names if m not in MODEL_NAMES + ["light"]]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {MODEL_NAMES + ['light']}")
    if args.exporter == "dynamo":
        if "light" in names:
            names.remove("light")
        args.out = os.path.join(args.out, "dynamo")
        if args.stock:
            args.out = os.path.join(args.out, "stock")
            names = [n for n in names if n in STOCK_NAMES]
    os.makedirs(args.out, exist_ok=True)
    if "light" in names:
        convert_light(args.out)
        names.remove("light")
    if not names:
        return 0

    import torch

    torch.set_num_threads(1)
    manifest_path = os.path.join(args.out, "models.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f).get("models", {})
    for name in names:
        info = export_one(name, args.out, args.opset, not args.no_macs, args.exporter, args.stock)
        manifest[name] = info
        print(f"== {name}: {info['file']} {info['bytes']} bytes, {info['nodes']} nodes, "
              f"params {info['framework_parameter_count']:,} (published {info['published_parameter_count']:,})")
        print("   ops:", info["op_histogram"])
        if info["ops_outside_supported_list"]:
            print("   ops outside supported list:", info["ops_outside_supported_list"])
        mt = info["macs_torch_flop_counter_computed_by_export_onnx_py"]
        print("   MACs (torch FlopCounterMode, batch=1):", mt.get("total", mt))
        if "macs_onnx_shape_inference_computed_by_export_onnx_py" in info:
            mc = info["macs_onnx_shape_inference_computed_by_export_onnx_py"]
            print("   MACs (onnx shape inference, batch=1):", mc.get("total", mc), mc.get("by_op", ""),
                  "unresolved MatMul/Gemm/Conv nodes:", len(mc.get("unresolved_nodes", [])))
        sys.stdout.flush()
    manifest = {k: manifest[k] for k in MODEL_NAMES if k in manifest}
    with open(manifest_path, "w") as f:
        json.dump({"generated_by": "tools/export_onnx.py", "models": manifest}, f, indent=2, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
