//! The interface every partitioning method implements, and the evaluator that
//! counts simulator calls against a budget, reuses one simulator for every
//! call, and records the history of the best throughput found.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sim::constraints::{Constraints, is_valid};
use sim::graph::Graph;
use sim::report::SimReport;
use sim::spec::HwSpec;
use sim::{Placement, SimOptions, Simulator};

use crate::error::SearchError;

/// Everything a method needs: the problem, the budget, the seed.
pub struct SearchProblem<'a> {
    pub spec: &'a HwSpec,
    pub graph: &'a Graph,
    pub constraints: Constraints,
    pub options: SimOptions,
    /// Simulator calls allowed.
    pub budget: u64,
    pub seed: u64,
}

/// One point of a search's history: after `evaluation` simulator calls, the
/// best valid throughput so far, and the wall time spent (for the record only:
/// nothing decides on it, and it is not part of `report.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub evaluation: u64,
    pub best_throughput_inferences_per_s: f64,
    pub wall_ms: f64,
}

/// What a method returns.
#[derive(Clone, Debug)]
pub struct SearchResult {
    pub method: String,
    /// The best valid placement found, its report, and when it was found.
    pub best: Option<(Placement, SimReport)>,
    pub evaluations: u64,
    pub history: Vec<HistoryPoint>,
    /// Method-specific facts (e.g. the exact method's bound and gap).
    pub notes: Vec<(String, String)>,
    /// Why the method stopped before its budget was spent, if it failed (no
    /// starting point, the simulator refused a placement, …). What it found
    /// until then is kept in `best`.
    pub failure: Option<SearchError>,
    /// The search stopped early because an interrupt was requested
    /// (`partition::interrupt`); what it found until then is kept.
    pub interrupted: bool,
}

impl SearchResult {
    /// A method that could not start at all.
    pub fn failed(method: &str, error: &SearchError) -> SearchResult {
        SearchResult {
            method: method.to_string(),
            best: None,
            evaluations: 0,
            history: Vec::new(),
            notes: Vec::new(),
            failure: Some(error.clone()),
            interrupted: false,
        }
    }
}

/// A partitioning method.
pub trait Search {
    /// The name used in scenarios and on the command line.
    fn name(&self) -> &'static str;
    /// Searches within `eval.remaining()` simulator calls.
    fn run(&mut self, problem: &SearchProblem<'_>, eval: &mut Evaluator)
    -> Result<(), SearchError>;
    /// Facts to report beside the best result.
    fn notes(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// What an evaluator tells after every simulator call: calls used, budget,
/// best score.
type Observer<'a> = Box<dyn FnMut(u64, u64, f64) + 'a>;

/// Scores placements with one reused simulator, counts calls, keeps the best.
pub struct Evaluator<'a> {
    spec: &'a HwSpec,
    graph: &'a Graph,
    constraints: Constraints,
    sim: Simulator,
    budget: u64,
    used: u64,
    best: Option<(Placement, SimReport)>,
    history: Vec<HistoryPoint>,
    started: Instant,
    /// The simulator's refusal that stopped the search, if one did.
    failure: Option<SearchError>,
    /// What the search had to work around (e.g. a fallback starting point),
    /// reported after the method's own notes.
    notes: Vec<(String, String)>,
    /// An interrupt request stopped the search.
    interrupted: bool,
    /// Told after every simulator call: calls used, budget, best score.
    observer: Option<Observer<'a>>,
    /// The seeded generator methods draw from (one stream per search).
    pub rng: ChaCha8Rng,
}

/// Throughput of a report as a search objective: zero when invalid.
pub fn score(report: &SimReport) -> f64 {
    if report.valid {
        report.throughput_inferences_per_s
    } else {
        0.0
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(problem: &SearchProblem<'a>) -> Result<Evaluator<'a>, SearchError> {
        let sim = Simulator::new(problem.spec, problem.graph, &problem.options)
            .map_err(SearchError::Simulator)?
            .with_constraints(problem.constraints);
        Ok(Evaluator {
            spec: problem.spec,
            graph: problem.graph,
            constraints: problem.constraints,
            sim,
            budget: problem.budget,
            used: 0,
            best: None,
            history: Vec::new(),
            started: Instant::now(),
            failure: None,
            notes: Vec::new(),
            interrupted: false,
            observer: None,
            rng: ChaCha8Rng::seed_from_u64(problem.seed),
        })
    }

    /// Calls `observer(calls used, budget, best score)` after every simulator
    /// call (a progress bar; a test's interrupt). It cannot change a result.
    pub fn with_observer(mut self, observer: impl FnMut(u64, u64, f64) + 'a) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// Whether an interrupt was requested (`partition::interrupt`); once it
    /// was, no simulator call remains. Long loops of methods check it.
    pub fn interrupted(&mut self) -> bool {
        if !self.interrupted && super::interrupt::requested() {
            self.interrupted = true;
            self.budget = self.used;
        }
        self.interrupted
    }

    /// Simulator calls left.
    pub fn remaining(&self) -> u64 {
        self.budget - self.used
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    /// Simulates `placement` (which must satisfy the constraints) and returns
    /// its score, or `None` when the budget is spent. Invalid placements score 0
    /// and still count. A placement the simulator refuses (one that does not
    /// fit the problem: a method's bug, never a user's) ends the search: no
    /// budget remains, and [`Evaluator::finish`] returns the error.
    pub fn evaluate(&mut self, placement: &Placement) -> Option<f64> {
        self.evaluate_report(placement).map(|(s, _)| s)
    }

    /// [`Evaluator::evaluate`], also returning the simulator's report, for
    /// methods that steer by measured per-chiplet times.
    pub fn evaluate_report(&mut self, placement: &Placement) -> Option<(f64, SimReport)> {
        if self.interrupted() || self.used >= self.budget {
            return None;
        }
        self.used += 1;
        let valid = is_valid(self.spec, self.graph, placement, &self.constraints);
        let out = match self.sim.run(placement) {
            Ok(out) => out,
            Err(e) => {
                self.failure = Some(SearchError::Simulator(e));
                self.budget = self.used;
                return None;
            }
        };
        let s = if valid { score(&out.report) } else { 0.0 };
        let better = match &self.best {
            None => valid && out.report.valid,
            Some((_, r)) => s > score(r),
        };
        if better {
            self.best = Some((placement.clone(), out.report.clone()));
        }
        let best = self.best.as_ref().map_or(0.0, |(_, r)| score(r));
        self.history.push(HistoryPoint {
            evaluation: self.used,
            best_throughput_inferences_per_s: best,
            wall_ms: self.started.elapsed().as_secs_f64() * 1e3,
        });
        if let Some(observer) = &mut self.observer {
            observer(self.used, self.budget, best);
        }
        Some((s, out.report))
    }

    /// Records something the search worked around, for the result's notes.
    pub fn note(&mut self, key: &str, value: String) {
        self.notes.push((key.to_string(), value));
    }

    /// The best score so far.
    pub fn best_score(&self) -> f64 {
        self.best.as_ref().map_or(0.0, |(_, r)| score(r))
    }

    /// The best valid placement so far.
    pub fn best_placement(&self) -> Option<&Placement> {
        self.best.as_ref().map(|(p, _)| p)
    }

    /// Ends the search: what it found, and why it stopped early if it did
    /// (`error`, the method's own failure; else a refusal of the simulator
    /// that stopped it). Nothing found before a failure is lost.
    pub fn finish(
        self,
        method: &str,
        notes: Vec<(String, String)>,
        error: Option<SearchError>,
    ) -> SearchResult {
        let mut notes = notes;
        notes.extend(self.notes);
        SearchResult {
            method: method.to_string(),
            best: self.best,
            evaluations: self.used,
            history: self.history,
            notes,
            failure: error.or(self.failure),
            interrupted: self.interrupted,
        }
    }
}
