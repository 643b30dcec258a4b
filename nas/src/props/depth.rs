//! The run-counting dynamic programme behind the depth property, shared by
//! the abstract semantics (which classifies ops from the IR) and the concrete
//! one (which classifies them by evaluating them).
//!
//! For one fragment input, every value carries three bests: the deepest path
//! from the input whose ops are all structural (depth 0), the deepest path
//! whose last non-structural run is linear, and the deepest whose last run is
//! non-linear. A linear op extends a linear run (same count) or starts a new
//! one (count + 1); a non-linear op likewise; a structural op changes
//! nothing. Ops with several inputs first take the best of each kind over
//! their inputs. Keeping the last run's kind apart is what makes the count
//! exact: a path ending in a long linear run and one ending in a shorter
//! non-linear run extend differently.

use crate::ir::Linearity;

/// Bests per value: `[structural only, ending linear, ending non-linear]`.
type Runs = [Option<u32>; 3];

/// One op of a trace: the values it reads and how it counts.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub inputs: Vec<usize>,
    pub kind: Linearity,
}

/// `depth[i][o]`: the deepest path from input `i` (of `n_inputs`, values
/// `0..n_inputs`) to value `outputs[o]` over `steps` (step `j` defines value
/// `n_inputs + j`); `None` when there is no path.
pub(crate) fn depth_table(
    n_inputs: usize,
    steps: &[Step],
    outputs: &[usize],
) -> Vec<Vec<Option<u32>>> {
    (0..n_inputs)
        .map(|i| {
            let mut runs: Vec<Runs> = vec![[None; 3]; n_inputs + steps.len()];
            runs[i] = [Some(0), None, None];
            for (j, step) in steps.iter().enumerate() {
                let mut joined: Runs = [None; 3];
                for &u in &step.inputs {
                    for (slot, best) in joined.iter_mut().enumerate() {
                        // `Option`'s order puts `None` below every `Some`.
                        *best = (*best).max(runs[u][slot]);
                    }
                }
                let [s, l, n] = joined;
                runs[n_inputs + j] = match step.kind {
                    Linearity::Structural => joined,
                    Linearity::Linear => [None, s.map(|_| 1).max(l).max(n.map(|d| d + 1)), None],
                    Linearity::NonLinear => [None, None, s.map(|_| 1).max(n).max(l.map(|d| d + 1))],
                };
            }
            outputs
                .iter()
                .map(|&o| {
                    let [s, l, n] = runs[o];
                    s.map(|_| 0).max(l).max(n)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Linearity::*;

    fn step(inputs: &[usize], kind: Linearity) -> Step {
        Step {
            inputs: inputs.to_vec(),
            kind,
        }
    }

    #[test]
    fn alternating_runs_count_each_change() {
        // conv → relu → conv → relu.
        let steps = [
            step(&[0], Linear),
            step(&[1], NonLinear),
            step(&[2], Linear),
            step(&[3], NonLinear),
        ];
        assert_eq!(
            depth_table(1, &steps, &[4, 2, 0]),
            vec![vec![Some(4), Some(2), Some(0)]]
        );
    }

    #[test]
    fn structural_ops_are_transparent_and_runs_merge() {
        // conv → flatten → batch-norm-like linear → relu: the two linear ops
        // form one run across the structural op.
        let steps = [
            step(&[0], Linear),
            step(&[1], Structural),
            step(&[2], Linear),
            step(&[3], NonLinear),
        ];
        assert_eq!(
            depth_table(1, &steps, &[4, 2]),
            vec![vec![Some(2), Some(1)]]
        );
    }

    #[test]
    fn a_join_takes_the_deepest_branch() {
        // add(x, relu(conv(x))) = max(1, 3).
        let steps = [
            step(&[0], Linear),
            step(&[1], NonLinear),
            step(&[0, 2], Linear),
        ];
        assert_eq!(depth_table(1, &steps, &[3]), vec![vec![Some(3)]]);
    }

    #[test]
    fn unreachable_outputs_have_no_depth() {
        // Two inputs; value 2 reads only input 1.
        let steps = [step(&[1], NonLinear)];
        assert_eq!(
            depth_table(2, &steps, &[2]),
            vec![vec![None], vec![Some(1)]]
        );
    }
}
