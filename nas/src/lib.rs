//! tessera's architecture search (αNAS after Jin, Phothilimthana and Roy,
//! "αNAS: Neural Architecture Search using Property Guided Synthesis",
//! OOPSLA 2022): evolution whose mutations rewrite a block of the network
//! into a synthesized subgraph with nearby abstract properties, candidates
//! trained on CPU with dfdx and scored on the simulated multi-chip package.
//!
//! The parts: [`ir`] (the architecture IR: networks, regions, rewriting,
//! fingerprints), [`lower`] (to `sim`'s workload graph), [`seeds`] (seed
//! networks).

pub mod ir;
pub mod lower;
pub mod seeds;
