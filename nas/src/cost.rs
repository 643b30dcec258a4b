//! Cost models of a candidate: parameters, multiply-accumulates, and the
//! simulated package — the candidate lowered to a workload graph,
//! partitioned by a fast registry method and simulated for first-inference
//! latency, converged throughput and energy.
