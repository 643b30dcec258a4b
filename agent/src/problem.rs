//! A partition problem as a library user holds it: the hardware, the
//! workload graph, the constraints that apply and the simulator's options,
//! owned together and loaded in one call. Searches, the RL environment and
//! αNAS start from one; what does not depend on a placement is precomputed
//! from it once as a [`ProblemModel`].

use std::path::Path;

use sim::SimOptions;
use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::problem::ProblemModel;
use sim::spec::HwSpec;

use crate::error::LoadError;
use crate::load::{Workload, load_spec};
use crate::partition::search::SearchProblem;

/// Hardware, workload, constraints and simulator options.
#[derive(Clone, Debug)]
pub struct Problem {
    pub spec: HwSpec,
    pub graph: Graph,
    /// The constraints a placement must meet (by default the spec's).
    pub constraints: Constraints,
    pub options: SimOptions,
}

impl Problem {
    /// The problem of running `graph` on `spec` under the spec's own
    /// constraints, with the simulator's default options.
    pub fn new(spec: HwSpec, graph: Graph) -> Problem {
        let constraints = spec.constraints;
        Problem {
            spec,
            graph,
            constraints,
            options: SimOptions::default(),
        }
    }

    /// Reads the spec file and loads the workload (see [`Workload`]).
    pub fn load(spec_path: &Path, workload: &Workload) -> Result<Problem, LoadError> {
        let spec = load_spec(spec_path)?;
        let graph = workload.load()?;
        Ok(Problem::new(spec, graph))
    }

    /// The same problem under other constraints.
    pub fn with_constraints(mut self, constraints: Constraints) -> Problem {
        self.constraints = constraints;
        self
    }

    /// The same problem with other simulator options.
    pub fn with_options(mut self, options: SimOptions) -> Problem {
        self.options = options;
        self
    }

    /// Everything about the problem that does not depend on a placement.
    pub fn model(&self) -> ProblemModel<'_> {
        ProblemModel::new(&self.spec, &self.graph, &self.options)
    }

    /// The problem as a search sees it: with a budget of simulator calls and
    /// a seed.
    pub fn search(&self, budget: u64, seed: u64) -> SearchProblem<'_> {
        SearchProblem {
            spec: &self.spec,
            graph: &self.graph,
            constraints: self.constraints,
            options: self.options.clone(),
            budget,
            seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::registry;
    use crate::partition::search::Evaluator;

    #[test]
    fn a_problem_loads_in_one_call_and_runs_a_registered_method() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workload = Workload::Zoo {
            model: "bert-base".into(),
            params: [("layers".to_string(), "2".to_string())].into(),
        };
        let problem = Problem::load(&root.join("hw_specs/edgetpu_ring4.toml"), &workload)
            .unwrap()
            .with_options(SimOptions {
                microbatches: 4,
                ..SimOptions::default()
            });
        assert_eq!(problem.constraints, problem.spec.constraints);
        assert_eq!(problem.model().n_ops, problem.graph.ops().len());
        let info = registry::lookup("greedy").unwrap();
        let search = problem.search(3, 1);
        let mut eval = Evaluator::new(&search).unwrap();
        let mut method = info.build(&info.defaults(), 3);
        method.run(&search, &mut eval).unwrap();
        let result = eval.finish("greedy", method.notes(), None);
        assert_eq!(result.failure, None);
        assert!(result.best.is_some());
        let missing = Problem::load(&root.join("no/such.toml"), &workload).unwrap_err();
        assert!(matches!(missing, LoadError::Read { .. }), "{missing}");
    }
}
