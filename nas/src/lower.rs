//! Lowering a network to `sim`'s workload graph, so the simulator and the
//! partitioner can score it: every node becomes one workload op (reshapes
//! and flattens included, which cost nothing), with the batch dimension put
//! in front of every shape.

use sim::graph::{BuildError, Conv, DType, EltFunc, Graph, GraphBuilder, PoolFunc, Tensor, Window};

use crate::ir::{Net, Op};

/// Why a network could not be lowered.
#[derive(Debug)]
pub enum LowerError {
    Ir(crate::ir::IrError),
    Build(BuildError),
    Graph(String),
}

impl std::fmt::Display for LowerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LowerError::Ir(e) => write!(f, "{e}"),
            LowerError::Build(e) => write!(f, "{e}"),
            LowerError::Graph(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LowerError {}

impl From<BuildError> for LowerError {
    fn from(e: BuildError) -> Self {
        LowerError::Build(e)
    }
}

/// The workload graph of `net` at `batch` samples per inference, every tensor
/// and weight of `dtype`.
pub fn to_graph(net: &Net, batch: u64, dtype: DType) -> Result<Graph, LowerError> {
    let shapes = net.shapes().map_err(LowerError::Ir)?;
    let mut b = GraphBuilder::new(net.name.clone(), format!("nas:{}", net.name), dtype);
    b.record_param("batch", batch);
    let with_batch =
        |s: &[u64]| -> Vec<u64> { std::iter::once(batch).chain(s.iter().copied()).collect() };
    let mut values: Vec<Tensor> = vec![b.input("input", &with_batch(&net.input))];
    for (i, n) in net.nodes.iter().enumerate() {
        let name = format!("{}.{}", i, n.name);
        let ins: Vec<&Tensor> = n.inputs.iter().map(|v| &values[v.0 as usize]).collect();
        let x = ins[0];
        let out_shape = with_batch(&shapes[i + 1]);
        let y = match &n.op {
            Op::Dense { units } => b.linear(&name, x, *units, true)?,
            Op::Conv {
                out_channels,
                kernel,
                stride,
                padding,
                groups,
            } => b.conv2d(
                &name,
                x,
                Conv::new(*out_channels, *kernel)
                    .stride(*stride)
                    .padding(*padding)
                    .groups(*groups)
                    .bias(true),
            )?,
            Op::MaxPool {
                kernel,
                stride,
                padding,
            } => b.pool(
                &name,
                x,
                PoolFunc::Max,
                Window::new(*kernel).stride(*stride).padding(*padding),
            )?,
            Op::AvgPool {
                kernel,
                stride,
                padding,
            } => b.pool(
                &name,
                x,
                PoolFunc::Avg,
                Window::new(*kernel).stride(*stride).padding(*padding),
            )?,
            Op::GlobalAvgPool => b.global_avg_pool(&name, x)?,
            Op::BatchNorm => {
                if x.rank() >= 2 {
                    b.batch_norm(&name, x)?
                } else {
                    b.eltwise(&name, EltFunc::Mul, &[x], 0)?
                }
            }
            Op::LayerNorm => b.layer_norm(&name, x)?,
            Op::Relu => b.eltwise(&name, EltFunc::Relu, &[x], 0)?,
            Op::Gelu => b.eltwise(&name, EltFunc::Gelu, &[x], 0)?,
            Op::Tanh => b.eltwise(&name, EltFunc::Tanh, &[x], 0)?,
            Op::Sigmoid => b.eltwise(&name, EltFunc::Sigmoid, &[x], 0)?,
            Op::Softmax => b.softmax(&name, x)?,
            Op::Add => b.eltwise(&name, EltFunc::Add, &ins, 0)?,
            Op::Concat { axis } => b.concat(&name, &ins, *axis as usize + 1, out_shape, 0)?,
            Op::Flatten | Op::Reshape { .. } => b.reshape(&name, x, &out_shape)?,
            Op::Transpose { perm } => {
                let perm: Vec<u32> = std::iter::once(0)
                    .chain(perm.iter().map(|p| p + 1))
                    .collect();
                b.transpose(&name, x, &perm)?
            }
            Op::MatMul => {
                let s = &shapes[n.inputs[0].0 as usize];
                let r = s.len();
                let lead: u64 = s[..r - 2].iter().product::<u64>() * batch;
                let (m, k) = (s[r - 2], s[r - 1]);
                let nn = shapes[n.inputs[1].0 as usize][r - 1];
                b.matmul_as(&name, x, ins[1], (lead, m, k, nn), &out_shape)?
            }
        };
        values.push(y);
    }
    let _ = &values[net.output.0 as usize];
    b.finish().map_err(|e| LowerError::Graph(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeds;

    #[test]
    fn seeds_lower_with_their_costs() {
        for net in [
            seeds::cifarnet_small(&[1, 8, 8], 10, 16),
            seeds::resnet_small(&[1, 28, 28], 10, 16, 2),
        ] {
            let g = to_graph(&net, 1, DType::Int8).unwrap();
            assert_eq!(g.ops().len(), net.nodes.len());
            let macs: u64 = g.ops().iter().map(|o| o.macs).sum();
            assert_eq!(macs, net.macs().unwrap(), "{}", net.name);
            let params: u64 = g.ops().iter().map(|o| o.params).sum();
            assert_eq!(params, net.params().unwrap(), "{}", net.name);
        }
    }
}
