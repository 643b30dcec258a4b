//! The policy network (dfdx, CPU, stable toolchain): reads an
//! [`Observation`] and gives, for every op, logits over the package's chips,
//! and a value estimate for PPO's baseline.
//!
//! # Architecture
//!
//! 1. **Node encoder**: a linear layer and ReLU from the node features to
//!    `HIDDEN` numbers per op.
//! 2. **Message passing**, [`SAGE_ROUNDS`] rounds, GraphSAGE style with
//!    separate weights for the two directions:
//!    `h ← h + relu(W_self h + W_pred mean_{u → v} h_u + W_succ mean_{v → w} h_w)`.
//!    The means are gathers of neighbour rows weighted by `1 / degree`, so
//!    memory grows with the edges, not with the square of the ops.
//! 3. **Segmented attention** in topological order: ops are cut into
//!    segments of [`SEGMENT`] consecutive ops (the last one padded, its
//!    padding masked out of every softmax) and each segment attends within
//!    itself with one head, residually. Long graphs stay linear in their
//!    length.
//! 4. **Chip encoder**: two layers from the chip features.
//! 5. **Logits** for op `v` on chip `c`: `(W_op h_v) · (W_chip e_c) / √HIDDEN`
//!    plus a linear term in the (op, chip) features (the op's cycles on that
//!    chip's type, whether it fits there alone); a chip whose SRAM cannot
//!    hold the op alone gets [`MASKED_LOGIT`] added. Nothing depends on the
//!    number of ops or chips, so one set of weights runs on any graph and any
//!    package, including ones it was not trained on.
//! 6. **Value head**: `W_out relu(W_n mean_v h_v + W_c mean_c e_c)`.
//!
//! Parameters are visited in a fixed order ([`PolicyNet::visit`]): the
//! optimiser and checkpoints read and write them that way.

use dfdx::prelude::*;

use super::features::{CHIP_FEATURES, NODE_FEATURES, OP_CHIP_FEATURES, Observation};

/// Width of every hidden representation.
pub const HIDDEN: usize = 64;
/// Message-passing rounds.
pub const SAGE_ROUNDS: usize = 2;
/// Ops per attention segment.
pub const SEGMENT: usize = 64;
/// Added to the logit of a chip that cannot hold an op alone.
pub const MASKED_LOGIT: f32 = -30.0;

const NF: usize = NODE_FEATURES.len();
const CF: usize = CHIP_FEATURES.len();
const OCF: usize = OP_CHIP_FEATURES.len();

type Lin<const I: usize, const O: usize> = dfdx::nn::modules::Linear<I, O, f32, Cpu>;

/// A traced tensor: operations on it are recorded for backpropagation.
pub type Traced<S> = Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>;

/// One round of message passing.
#[derive(Clone, Debug)]
struct Sage {
    own: Lin<HIDDEN, HIDDEN>,
    pred: Lin<HIDDEN, HIDDEN>,
    succ: Lin<HIDDEN, HIDDEN>,
}

/// The network's parameters.
#[derive(Clone, Debug)]
pub struct PolicyNet {
    node_in: Lin<NF, HIDDEN>,
    sage: Vec<Sage>,
    attn_q: Lin<HIDDEN, HIDDEN>,
    attn_k: Lin<HIDDEN, HIDDEN>,
    attn_v: Lin<HIDDEN, HIDDEN>,
    attn_o: Lin<HIDDEN, HIDDEN>,
    chip_in: Lin<CF, HIDDEN>,
    chip_hidden: Lin<HIDDEN, HIDDEN>,
    op_key: Lin<HIDDEN, HIDDEN>,
    chip_key: Lin<HIDDEN, HIDDEN>,
    op_chip: Lin<OCF, 1>,
    value_nodes: Lin<HIDDEN, HIDDEN>,
    value_chips: Lin<HIDDEN, HIDDEN>,
    value_out: Lin<HIDDEN, 1>,
}

/// Something that reads or writes every parameter tensor in order.
pub trait ParamVisitor {
    fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>);
}

/// An observation as constant tensors, built once per problem.
pub struct Prepared {
    n_ops: usize,
    n_chips: usize,
    nodes: Tensor<(usize, Const<NF>), f32, Cpu>,
    chips: Tensor<(usize, Const<CF>), f32, Cpu>,
    op_chip: Tensor<(usize, Const<OCF>), f32, Cpu>,
    /// Chip mask, `n_ops × n_chips`: 0 or [`MASKED_LOGIT`].
    mask: Tensor<(usize, usize), f32, Cpu>,
    pred: Neighbours,
    succ: Neighbours,
    /// Rows of the padded segment layout (`segments × SEGMENT`), each an op
    /// (padding repeats op 0), and the additive key mask per segment.
    pad_rows: Tensor<(usize,), usize, Cpu>,
    key_mask: Tensor<(usize, Const<SEGMENT>, Const<SEGMENT>), f32, Cpu>,
    segments: usize,
    /// `0..n_ops`, to drop the padding again.
    unpad_rows: Tensor<(usize,), usize, Cpu>,
    /// The reference placement the op-chip features describe, if any.
    reference: Option<Vec<u32>>,
}

/// Mean aggregation over one direction's neighbours, as a gather of `width`
/// rows per op and weights (`1 / degree`, 0 on padding).
struct Neighbours {
    width: usize,
    rows: Tensor<(usize,), usize, Cpu>,
    weights: Tensor<(usize, usize), f32, Cpu>,
}

impl Neighbours {
    fn new(dev: &Cpu, lists: &[Vec<usize>]) -> Neighbours {
        let n = lists.len();
        let width = lists.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut rows = vec![0usize; n * width];
        let mut weights = vec![0f32; n * width];
        for (v, list) in lists.iter().enumerate() {
            for (j, &u) in list.iter().enumerate() {
                rows[v * width + j] = u;
                weights[v * width + j] = 1.0 / list.len() as f32;
            }
        }
        Neighbours {
            width,
            rows: dev.tensor_from_vec(rows, (n * width,)),
            weights: dev.tensor_from_vec(weights, (n, width)),
        }
    }

    /// `mean_{u ∈ list(v)} h_u` for every op (0 without neighbours).
    fn mean(&self, h: Traced<(usize, Const<HIDDEN>)>) -> Traced<(usize, Const<HIDDEN>)> {
        let n = h.shape().0;
        let gathered = h
            .gather(self.rows.clone())
            .reshape_like(&(n, self.width, Const::<HIDDEN>));
        let w = self
            .weights
            .clone()
            .broadcast_like(&(n, self.width, Const::<HIDDEN>));
        (gathered * w).sum::<(usize, Const<HIDDEN>), Axis<1>>()
    }
}

impl Prepared {
    pub fn new(dev: &Cpu, obs: &Observation) -> Prepared {
        let (n, k) = (obs.n_ops, obs.n_chips);
        let mut preds = vec![Vec::new(); n];
        let mut succs = vec![Vec::new(); n];
        for &[a, b] in &obs.edges {
            succs[a as usize].push(b as usize);
            preds[b as usize].push(a as usize);
        }
        let mut mask = vec![0f32; n * k];
        for v in 0..n {
            for c in 0..k {
                if obs.op_chip(v, c)[1] == 0.0 {
                    mask[v * k + c] = MASKED_LOGIT;
                }
            }
        }
        let segments = n.div_ceil(SEGMENT).max(1);
        let pad_rows: Vec<usize> = (0..segments * SEGMENT)
            .map(|i| if i < n { i } else { 0 })
            .collect();
        let mut key_mask = vec![0f32; segments * SEGMENT * SEGMENT];
        for s in 0..segments {
            for q in 0..SEGMENT {
                for key in 0..SEGMENT {
                    if s * SEGMENT + key >= n {
                        key_mask[(s * SEGMENT + q) * SEGMENT + key] = -1e9;
                    }
                }
            }
        }
        Prepared {
            n_ops: n,
            n_chips: k,
            nodes: dev.tensor_from_vec(obs.node_features.clone(), (n, Const::<NF>)),
            chips: dev.tensor_from_vec(obs.chip_features.clone(), (k, Const::<CF>)),
            op_chip: dev.tensor_from_vec(obs.op_chip_features.clone(), (n * k, Const::<OCF>)),
            mask: dev.tensor_from_vec(mask, (n, k)),
            pred: Neighbours::new(dev, &preds),
            succ: Neighbours::new(dev, &succs),
            pad_rows: dev.tensor_from_vec(pad_rows, (segments * SEGMENT,)),
            key_mask: dev.tensor_from_vec(key_mask, (segments, Const, Const)),
            segments,
            unpad_rows: dev.tensor_from_vec((0..n).collect(), (n,)),
            reference: None,
        }
    }

    /// Sets the reference placement the policy's proposals are edits of
    /// (see [`Observation::with_reference`]); `None` clears it.
    pub fn set_reference(&mut self, dev: &Cpu, obs: &Observation, reference: Option<&[u32]>) {
        self.op_chip = dev.tensor_from_vec(
            obs.with_reference(reference),
            (self.n_ops * self.n_chips, Const::<OCF>),
        );
        self.reference = reference.map(<[u32]>::to_vec);
    }

    /// The reference placement set by [`Prepared::set_reference`].
    pub fn reference(&self) -> Option<&[u32]> {
        self.reference.as_deref()
    }

    pub fn n_ops(&self) -> usize {
        self.n_ops
    }

    pub fn n_chips(&self) -> usize {
        self.n_chips
    }
}

fn linear<const I: usize, const O: usize>(dev: &Cpu) -> Lin<I, O> {
    BuildModule::build(dev)
}

impl PolicyNet {
    /// Fresh weights drawn from `dev`'s generator (seed it for
    /// reproducible weights: `Cpu::seed_from_u64`).
    pub fn new(dev: &Cpu) -> PolicyNet {
        PolicyNet {
            node_in: linear(dev),
            sage: (0..SAGE_ROUNDS)
                .map(|_| Sage {
                    own: linear(dev),
                    pred: linear(dev),
                    succ: linear(dev),
                })
                .collect(),
            attn_q: linear(dev),
            attn_k: linear(dev),
            attn_v: linear(dev),
            attn_o: linear(dev),
            chip_in: linear(dev),
            chip_hidden: linear(dev),
            op_key: linear(dev),
            chip_key: linear(dev),
            op_chip: {
                // The prior: an op prefers the chips near where an even
                // split of the op order would put it (logit −1 per pipeline
                // position away), so the first samples are noisy contiguous
                // splits rather than noise that repair can only flatten.
                // With a reference placement, the reference chip gets +4 and
                // every position away from it −1 more, so the first samples
                // are the reference with a few ops moved, mostly to a
                // neighbouring stage: a local search the policy then learns
                // to steer.
                let mut l: Lin<OCF, 1> = linear(dev);
                let mut w = l.weight.as_vec();
                let column = |name: &str| {
                    OP_CHIP_FEATURES
                        .iter()
                        .position(|f| *f == name)
                        .expect("a column")
                };
                w[column("position_gap")] = -1.0;
                w[column("is_reference")] = 4.0;
                w[column("reference_gap")] = -1.0;
                l.weight.copy_from(&w);
                l
            },
            value_nodes: linear(dev),
            value_chips: linear(dev),
            value_out: linear(dev),
        }
    }

    /// Every parameter tensor, in a fixed order, with a stable name.
    pub fn visit(&mut self, v: &mut impl ParamVisitor) {
        fn lin<const I: usize, const O: usize>(
            v: &mut impl ParamVisitor,
            name: &str,
            l: &mut Lin<I, O>,
        ) {
            v.visit(&format!("{name}.weight"), &mut l.weight);
            v.visit(&format!("{name}.bias"), &mut l.bias);
        }
        lin(v, "node_in", &mut self.node_in);
        for (i, s) in self.sage.iter_mut().enumerate() {
            lin(v, &format!("sage{i}.own"), &mut s.own);
            lin(v, &format!("sage{i}.pred"), &mut s.pred);
            lin(v, &format!("sage{i}.succ"), &mut s.succ);
        }
        lin(v, "attn_q", &mut self.attn_q);
        lin(v, "attn_k", &mut self.attn_k);
        lin(v, "attn_v", &mut self.attn_v);
        lin(v, "attn_o", &mut self.attn_o);
        lin(v, "chip_in", &mut self.chip_in);
        lin(v, "chip_hidden", &mut self.chip_hidden);
        lin(v, "op_key", &mut self.op_key);
        lin(v, "chip_key", &mut self.chip_key);
        lin(v, "op_chip", &mut self.op_chip);
        lin(v, "value_nodes", &mut self.value_nodes);
        lin(v, "value_chips", &mut self.value_chips);
        lin(v, "value_out", &mut self.value_out);
    }

    /// Logits (`n_ops × n_chips`) and the value estimate, traced into
    /// `grads` (pass `Gradients::leaky()` when no gradient is wanted).
    pub fn forward(
        &self,
        p: &Prepared,
        grads: Gradients<f32, Cpu>,
    ) -> (Traced<(usize, usize)>, Traced<()>) {
        let (n, k) = (p.n_ops, p.n_chips);
        let x = p.nodes.clone().traced(grads);
        let mut h = self.node_in.forward(x).relu();
        for s in &self.sage {
            let own = s.own.forward(h.with_empty_tape());
            let pred = s.pred.forward(p.pred.mean(h.with_empty_tape()));
            let succ = s.succ.forward(p.succ.mean(h.with_empty_tape()));
            h = h + (own + pred + succ).relu();
        }
        let attended = self.attend(p, h.with_empty_tape());
        h = h + attended;

        let chips = p.chips.clone().traced(Gradients::leaky());
        let e = self
            .chip_hidden
            .forward(self.chip_in.forward(chips).relu())
            .relu();

        // The value head reads copies; the logits carry the trunk's tape
        // (a loss on the logits alone trains every layer they depend on).
        let pooled_nodes = h.with_empty_tape().mean::<(Const<HIDDEN>,), Axis<0>>();
        let pooled_chips = e.with_empty_tape().mean::<(Const<HIDDEN>,), Axis<0>>();
        let q = self.op_key.forward(h);
        let kk = self.chip_key.forward(e);
        let pair = q.matmul(kk.permute::<(Const<HIDDEN>, usize), Axes2<1, 0>>())
            * (1.0 / (HIDDEN as f32).sqrt());
        let local = self
            .op_chip
            .forward(p.op_chip.clone().traced(Gradients::leaky()))
            .reshape_like(&(n, k));
        let logits = pair + local + p.mask.clone();

        let hidden = (self.value_nodes.forward(pooled_nodes)
            + self.value_chips.forward(pooled_chips))
        .relu();
        let value = self.value_out.forward(hidden).reshape::<()>();
        (logits, value)
    }

    /// One head of attention within each segment of consecutive ops.
    fn attend(
        &self,
        p: &Prepared,
        h: Traced<(usize, Const<HIDDEN>)>,
    ) -> Traced<(usize, Const<HIDDEN>)> {
        let s = p.segments;
        let shape = (s, Const::<SEGMENT>, Const::<HIDDEN>);
        let padded = h.gather(p.pad_rows.clone()).reshape_like(&shape);
        let q = self.attn_q.forward(padded.with_empty_tape());
        let k = self.attn_k.forward(padded.with_empty_tape());
        let v = self.attn_v.forward(padded);
        let scores = q.matmul(k.permute::<_, Axes3<0, 2, 1>>()) * (1.0 / (HIDDEN as f32).sqrt())
            + p.key_mask.clone();
        let mixed = scores.softmax::<Axis<2>>().matmul(v);
        let out = self
            .attn_o
            .forward(mixed)
            .reshape_like(&(s * SEGMENT, Const::<HIDDEN>));
        out.gather(p.unpad_rows.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::features::observe;
    use sim::SimOptions;
    use sim::testkit::{DagSpace, PackageSpace};

    /// Observations of seeded draws from the test kit's broad spaces, plus
    /// a chain longer than two attention segments.
    fn observations() -> Vec<Observation> {
        use rand::SeedableRng;
        let observe_on = |g: &sim::graph::Graph, rng: &mut rand_chacha::ChaCha8Rng| {
            let s = PackageSpace::broad().sample(rng).unwrap().build().unwrap();
            observe(&sim::problem::ProblemModel::new(
                &s,
                g,
                &SimOptions::default(),
            ))
        };
        let mut out = Vec::new();
        for seed in 0..6 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let g = DagSpace::broad().sample(&mut rng).unwrap().build().unwrap();
            out.push(observe_on(&g, &mut rng));
        }
        let g = sim::testkit::chain(150, &[1, 4, 16]).unwrap();
        out.push(observe_on(
            &g,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(9),
        ));
        out
    }

    #[test]
    fn any_graph_and_package_gives_finite_logits_of_the_right_shape() {
        let dev = Cpu::seed_from_u64(3);
        let net = PolicyNet::new(&dev);
        for obs in observations() {
            let p = Prepared::new(&dev, &obs);
            let (logits, value) = net.forward(&p, Gradients::leaky());
            assert_eq!(*logits.shape(), (obs.n_ops, obs.n_chips));
            assert!(logits.as_vec().iter().all(|x| x.is_finite()));
            assert!(value.as_vec()[0].is_finite());
            // A chip that cannot hold an op alone is masked.
            let l = logits.as_vec();
            for v in 0..obs.n_ops {
                for c in 0..obs.n_chips {
                    if obs.op_chip(v, c)[1] == 0.0 {
                        assert!(l[v * obs.n_chips + c] < MASKED_LOGIT / 2.0);
                    }
                }
            }
        }
    }

    #[test]
    fn a_fresh_policy_proposes_edits_of_its_reference() {
        // On every draw with a choice of chips, a fresh policy given a
        // reference (each op on a chip that can hold it) puts most of the
        // probability on the reference chips, and clearing the reference
        // gives back the reference-free logits.
        let dev = Cpu::seed_from_u64(4);
        let net = PolicyNet::new(&dev);
        for obs in observations().into_iter().filter(|o| o.n_chips > 1) {
            let mut p = Prepared::new(&dev, &obs);
            let (plain, _) = net.forward(&p, Gradients::leaky());
            let reference: Vec<u32> = (0..obs.n_ops)
                .map(|v| {
                    let fits = |c: &usize| obs.op_chip(v, *c)[1] == 1.0;
                    (0..obs.n_chips).rev().find(fits).unwrap_or(0) as u32
                })
                .collect();
            p.set_reference(&dev, &obs, Some(&reference));
            assert_eq!(p.reference(), Some(reference.as_slice()));
            let (logits, _) = net.forward(&p, Gradients::leaky());
            let l = logits.log_softmax::<Axis<1>>().as_vec();
            let mean_p: f32 = (0..obs.n_ops)
                .map(|v| l[v * obs.n_chips + reference[v] as usize].exp())
                .sum::<f32>()
                / obs.n_ops as f32;
            assert!(
                mean_p > 0.5,
                "mean probability of the reference chip {mean_p}"
            );
            p.set_reference(&dev, &obs, None);
            let (cleared, _) = net.forward(&p, Gradients::leaky());
            assert_eq!(cleared.as_vec(), plain.as_vec());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_and_outputs() {
        let obs = observations().pop().unwrap();
        let run = |seed| {
            let dev = Cpu::seed_from_u64(seed);
            let mut net = PolicyNet::new(&dev);
            let p = Prepared::new(&dev, &obs);
            let (logits, _) = net.forward(&p, Gradients::leaky());
            (net.parameters(), logits.as_vec())
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).0, run(6).0);
    }

    #[test]
    fn a_loss_on_the_logits_and_value_reaches_every_trunk_parameter() {
        struct Names<'a>(&'a Gradients<f32, Cpu>, Vec<(String, f32)>);
        impl ParamVisitor for Names<'_> {
            fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, Cpu>) {
                let mut g = self.0.clone();
                g.try_alloc_for(t).unwrap();
                let norm = g.get(t).as_vec().iter().map(|x| x * x).sum::<f32>();
                self.1.push((name.to_string(), norm));
            }
        }
        // A heterogeneous package, so the (op, chip) features differ by chip.
        let obs = observations()
            .into_iter()
            .find(|o| {
                o.n_chips > 1
                    && o.n_ops > 3
                    && (0..o.n_chips).any(|c| o.op_chip(1, c)[0] != o.op_chip(1, 0)[0])
            })
            .expect("a heterogeneous draw");
        let dev = Cpu::seed_from_u64(1);
        let mut net = PolicyNet::new(&dev);
        let p = Prepared::new(&dev, &obs);
        let (logits, value) = net.forward(&p, Gradients::leaky());
        let target = dev.tensor_from_vec(
            (0..obs.n_ops * obs.n_chips)
                .map(|i| (i % 3) as f32)
                .collect(),
            (obs.n_ops, obs.n_chips),
        );
        let loss = (logits.log_softmax::<Axis<1>>() * target).sum() + value.square();
        let grads = loss.backward();
        let mut names = Names(&grads, Vec::new());
        net.visit(&mut names);
        for (name, norm) in names.1 {
            // Biases before a softmax over chips cancel out exactly.
            if name == "op_chip.bias" {
                continue;
            }
            assert!(norm > 0.0, "{name} gets no gradient");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use sim::SimOptions;
    use sim::testkit::{DagSpace, PackageSpace, strategies};

    use super::*;
    use crate::rl::features::observe;

    proptest! {
        #![proptest_config(strategies::config(32))]

        /// One set of weights runs on any graph and any package the test kit
        /// draws: logits of `n_ops × n_chips`, all finite, and a finite value.
        #[test]
        fn the_policy_runs_on_any_graph_and_package(
            dag in strategies::dag(&DagSpace::broad()).unwrap(),
            pk in strategies::package(&PackageSpace::broad()).unwrap(),
        ) {
            let g = dag.build().unwrap();
            let s = pk.build().unwrap();
            let obs = observe(&sim::problem::ProblemModel::new(&s, &g, &SimOptions::default()));
            let dev = Cpu::seed_from_u64(0);
            let net = PolicyNet::new(&dev);
            let (logits, value) = net.forward(&Prepared::new(&dev, &obs), Gradients::leaky());
            prop_assert_eq!(*logits.shape(), (obs.n_ops, obs.n_chips));
            prop_assert!(logits.as_vec().iter().all(|x| x.is_finite()));
            prop_assert!(value.as_vec()[0].is_finite());
        }
    }
}
