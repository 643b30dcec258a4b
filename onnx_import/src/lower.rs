//! The import walk's means of lowering: emitting IR ops with the graph-wide
//! limits checked, viewing activations, element-wise ops, and charging each
//! float initializer once as parameters (see `import.rs` for the rule).

use sim::graph::Tensor;
use sim::graph::{EltFunc, OpId, OpKind, Source};

use crate::NodeRef;
use crate::import::Importer;
use crate::reader::is_float;
use crate::shape::numel;
use crate::value::{R, State, Value, count, invalid, ir_shape, limit};

/// Sum limit for the graph's MACs and vector operations, far below `u64::MAX`
/// so that no total in the simulator can overflow.
const MAX_TOTAL: u64 = 1 << 60;

impl Importer<'_> {
    /// The bias a fused epilogue adds to the output of node `index` of shape
    /// `out` along `axis` (the last dim, or the channel dim of a
    /// convolution), if the plan proposes one and its shape fits.
    fn epilogue_bias(&self, index: usize, out: &[u64], axis: usize) -> Option<(usize, Value)> {
        let (add, name) = self.plan.bias.get(&index)?;
        let b = self.values.get(name)?;
        if b.is_act() || !is_float(b.elem) || b.shape.len() > out.len() {
            return None;
        }
        let offset = out.len() - b.shape.len();
        let fits = b.shape.iter().enumerate().all(|(d, &size)| {
            if d + offset == axis {
                size == out[axis]
            } else {
                size == 1
            }
        });
        (fits && axis >= offset).then(|| (*add, b.clone()))
    }

    /// Takes the planned bias of node `index` into a product's parameters.
    pub fn take_bias(&mut self, index: usize, out: &[u64], axis: usize) -> u64 {
        match self.epilogue_bias(index, out, axis) {
            Some((add, b)) => {
                self.absorbed.insert(add);
                self.charge(Some(&b))
            }
            None => 0,
        }
    }

    /// Registers a tensor of `numel` parameters, not yet charged; a
    /// `weight_only` one is charged only by an op that reads it as a weight.
    pub fn new_param(&mut self, numel: u64, weight_only: bool) -> u32 {
        let id = self.init_numel.len() as u32;
        self.init_numel.push(numel);
        self.charged.push(false);
        self.weight_only.push(weight_only);
        id
    }

    /// Charges the not-yet-charged parameters behind `v`, read as a weight:
    /// a product's static operand, a Conv's weight or bias, a normalisation's
    /// scale or bias, an embedding table, an Add or Mul's static operand.
    pub fn charge(&mut self, v: Option<&Value>) -> u64 {
        self.charge_if(v, true)
    }

    /// Charges the not-yet-charged float initializers behind `v`, read other
    /// than as a weight (Concat, Where, Sub…): not the ConstantOfShape ones.
    pub fn charge_other(&mut self, v: Option<&Value>) -> u64 {
        self.charge_if(v, false)
    }

    fn charge_if(&mut self, v: Option<&Value>, as_weight: bool) -> u64 {
        let mut total = 0;
        if let Some(v) = v {
            for &id in v.inits() {
                if !self.charged[id as usize] && (as_weight || !self.weight_only[id as usize]) {
                    self.charged[id as usize] = true;
                    total = u64::saturating_add(total, self.init_numel[id as usize]);
                }
            }
        }
        total
    }

    fn unique_name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Appends one IR op reading `inputs` (activations, with their shapes).
    pub fn emit(
        &mut self,
        name: &str,
        kind: OpKind,
        inputs: &[&Value],
        out_shape: Vec<u64>,
        vector_ops: u64,
        params: u64,
    ) -> R<Source> {
        if out_shape.contains(&0) {
            return Err(invalid(format!(
                "produces an empty tensor {out_shape:?}; tessera graphs have no empty tensors"
            )));
        }
        let macs = checked_macs(&kind).ok_or_else(|| limit("the op's MAC count overflows"))?;
        self.macs = self
            .macs
            .checked_add(macs)
            .filter(|&m| m <= MAX_TOTAL)
            .ok_or_else(|| limit("the graph's total MACs exceed 2^60"))?;
        self.vector_ops = self
            .vector_ops
            .checked_add(vector_ops)
            .filter(|&m| m <= MAX_TOTAL)
            .ok_or_else(|| limit("the graph's total vector operations exceed 2^60"))?;
        let out_elements = count(&out_shape)?;
        for (sum, add, what) in [
            (&mut self.params, params, "parameters"),
            (&mut self.output_elements, out_elements, "output elements"),
        ] {
            *sum = sum
                .checked_add(add)
                .filter(|&m| m <= MAX_TOTAL)
                .ok_or_else(|| limit(format!("the graph's total {what} exceed 2^60")))?;
        }
        let tensors: Vec<Tensor> = inputs
            .iter()
            .map(|v| match &v.state {
                State::Act(source) => Tensor {
                    source: source.clone(),
                    shape: ir_shape(&v.shape),
                },
                _ => unreachable!("only activations are op inputs"),
            })
            .collect();
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let name = self.unique_name(name);
        self.n_ops += 1;
        let t = self
            .builder
            .push(&name, kind, &refs, ir_shape(&out_shape), vector_ops, params);
        Ok(t.source)
    }

    pub fn act(&self, source: Source, shape: Vec<u64>, elem: i32) -> Value {
        Value {
            shape,
            elem,
            state: State::Act(source),
        }
    }

    /// A shape-only op on an activation: folded into its consumers, or kept as
    /// a zero-cost Reshape op.
    pub fn view(&mut self, at: &NodeRef, x: &Value, shape: Vec<u64>, elem: i32) -> R<Value> {
        let State::Act(source) = &x.state else {
            unreachable!("views are of activations")
        };
        if self.opts.keep_free_ops {
            let s = self.emit(&at.name, OpKind::Reshape, &[x], shape.clone(), 0, 0)?;
            Ok(self.act(s, shape, elem))
        } else {
            Ok(self.act(source.clone(), shape, elem))
        }
    }

    /// An element-wise op: activation operands are inputs, static float
    /// initializers behind the others are parameters.
    pub fn eltwise(
        &mut self,
        at: &NodeRef,
        func: EltFunc,
        ins: &[&Value],
        shape: Vec<u64>,
        elem: i32,
    ) -> R<Value> {
        self.eltwise_n(at, func, 1, ins, shape, elem)
    }

    /// [`Importer::eltwise`] costing `per_elem` vector operations per output
    /// element (an op the vector unit runs as several instructions: a
    /// LeakyRelu is a compare and a multiply-select, see `docs/onnx.md`).
    pub fn eltwise_n(
        &mut self,
        at: &NodeRef,
        func: EltFunc,
        per_elem: u64,
        ins: &[&Value],
        shape: Vec<u64>,
        elem: i32,
    ) -> R<Value> {
        let acts: Vec<&Value> = ins.iter().copied().filter(|v| v.is_act()).collect();
        // Fused: a product or quotient by a constant scalar is the zoo's `scale`.
        let scalar_const =
            |v: &&Value| !v.is_act() && v.inits().is_empty() && numel(&v.shape) == Some(1);
        let func = if self.fuse
            && matches!(func, EltFunc::Mul | EltFunc::Div)
            && acts.len() == 1
            && ins.len() == 2
            && match func {
                EltFunc::Mul => ins.iter().any(scalar_const),
                _ => ins.get(1).is_some_and(scalar_const),
            } {
            EltFunc::Scale
        } else {
            func
        };
        let mut params = 0;
        let as_weight = matches!(func, EltFunc::Add | EltFunc::Mul | EltFunc::Scale);
        for v in ins.iter().filter(|v| !v.is_act()) {
            params += self.charge_if(Some(v), as_weight);
        }
        let n = count(&shape)?
            .checked_mul(per_elem)
            .ok_or_else(|| limit("the op's vector operations overflow"))?;
        let s = self.emit(
            &at.name,
            OpKind::Elementwise { func },
            &acts,
            shape.clone(),
            n,
            params,
        )?;
        Ok(self.act(s, shape, elem))
    }

    /// The id the next emitted op will have.
    pub fn next_op(&self) -> OpId {
        OpId(self.n_ops as u32)
    }
}

/// MACs of an IR op kind with overflow checks (the IR multiplies unchecked).
fn checked_macs(kind: &OpKind) -> Option<u64> {
    match *kind {
        OpKind::MatMul { batch, m, k, n } => batch.checked_mul(m)?.checked_mul(k)?.checked_mul(n),
        OpKind::Conv2d {
            batch,
            in_channels,
            out_channels,
            out_hw,
            kernel,
            groups,
            ..
        } => batch
            .checked_mul(out_hw[0])?
            .checked_mul(out_hw[1])?
            .checked_mul(out_channels)?
            .checked_mul(kernel[0])?
            .checked_mul(kernel[1])?
            .checked_mul(in_channels / groups),
        _ => Some(0),
    }
}
