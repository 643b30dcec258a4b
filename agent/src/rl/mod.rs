//! The learned partitioner (issue 15), built in layers: the environment a
//! policy acts in ([`env`]) and what it observes ([`features`]); the policy
//! network ([`policy`]) and PPO ([`ppo`]); exact checkpoints
//! ([`checkpoint`]); pre-training over a corpus ([`pretrain`]) of named
//! problems, some drawn at random ([`corpus`]). The `rl` search method
//! (`partition/methods/rl.rs`) trains on one problem.

pub mod checkpoint;
pub mod corpus;
pub mod env;
pub mod features;
pub mod policy;
pub mod ppo;
pub mod pretrain;

pub use env::{Action, Baseline, EnvError, EnvOptions, PartitionEnv, Step, StepInfo};
pub use features::{Observation, observe};
