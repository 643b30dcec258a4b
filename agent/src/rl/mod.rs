//! The learned partitioner (issue 15), built in layers: the environment a
//! policy acts in ([`env`]) and what it observes ([`features`]); the policy
//! network, PPO, pre-training and the `rl` method come next.

pub mod checkpoint;
pub mod env;
pub mod features;
pub mod policy;
pub mod ppo;
pub mod pretrain;

pub use env::{Action, Baseline, EnvError, EnvOptions, PartitionEnv, Step, StepInfo};
pub use features::{Observation, observe};
