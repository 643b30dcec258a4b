//! Adam (Kingma and Ba, 2015; β = 0.9, 0.999; ε = 1e-8) over flat
//! parameter vectors, in `f32` and a fixed parameter order, as the policy
//! trainer in `agent::rl::ppo` does. (That one is a private method of its
//! trainer, tied to the policy network, so it cannot be called from here.)

/// Adam's moments and step count.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Adam {
    learning_rate: f32,
    step: i32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    /// Zero moments for parameters of these lengths.
    pub fn new(learning_rate: f32, lens: impl Iterator<Item = usize>) -> Adam {
        let m: Vec<Vec<f32>> = lens.map(|n| vec![0.0; n]).collect();
        Adam {
            learning_rate,
            step: 0,
            v: m.clone(),
            m,
        }
    }

    /// One step: `params[i] -= lr · m̂ / (√v̂ + ε)` with bias-corrected
    /// moments of `grads`.
    pub fn step(&mut self, params: &mut [Vec<f32>], grads: &[Vec<f32>]) {
        self.step = self.step.saturating_add(1);
        let (c1, c2) = (
            1.0 - Self::B1.powi(self.step),
            1.0 - Self::B2.powi(self.step),
        );
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..p.len() {
                m[j] = Self::B1 * m[j] + (1.0 - Self::B1) * g[j];
                v[j] = Self::B2 * v[j] + (1.0 - Self::B2) * g[j] * g[j];
                p[j] -= self.learning_rate * (m[j] / c1) / ((v[j] / c2).sqrt() + Self::EPS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_the_learning_rate_against_its_gradient() {
        // With bias correction the first step is lr · sign(g).
        let mut adam = Adam::new(0.1, [2].into_iter());
        let mut p = vec![vec![1.0, 1.0]];
        adam.step(&mut p, &[vec![3.0, -0.5]]);
        assert!((p[0][0] - 0.9).abs() < 1e-6 && (p[0][1] - 1.1).abs() < 1e-6);
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut adam = Adam::new(0.05, [1].into_iter());
        let mut p = vec![vec![3.0f32]];
        for _ in 0..500 {
            let g = vec![vec![2.0 * (p[0][0] - 1.0)]];
            adam.step(&mut p, &g);
        }
        assert!((p[0][0] - 1.0).abs() < 1e-2, "{}", p[0][0]);
    }
}
