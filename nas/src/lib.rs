//! tessera's architecture search (αNAS after Jin, Phothilimthana and Roy,
//! "αNAS: Neural Architecture Search using Property Guided Synthesis",
//! OOPSLA 2022): evolution whose mutations rewrite a block of the network
//! into a synthesized subgraph with nearby abstract properties, candidates
//! trained on CPU with dfdx and scored on the simulated multi-chip package.
//!
//! The parts: [`ir`] (the architecture IR: networks, regions, rewriting,
//! fingerprints), [`lower`] (to `sim`'s workload graph), [`seeds`] (seed
//! networks), [`props`] (shape, depth and mixing, abstract and concrete),
//! [`synth`] (synthesis of subgraphs for target properties), [`mutate`]
//! (network mutations, guided and unguided), [`data`] (data sets),
//! [`train`] (training in dfdx), [`cost`] (parameters, MACs, simulated
//! hardware), [`evolve`] (the evolution loop: Pareto selection,
//! deduplication, checkpoints, hypervolume).

pub mod cost;
pub mod data;
pub mod evolve;
pub mod ir;
pub mod lower;
pub mod mutate;
pub mod props;
pub mod seeds;
pub mod synth;
pub mod train;
