//! `rollout-wait`: after a Deployment is applied, wait until its rollout is done; fail at
//! once when it reports ProgressDeadlineExceeded (or is deleted), not at the timeout.
//!
//! Config (all optional): `deployment` (default: the Deployment in the target file),
//! `timeout` (`300s`). Grants: `watch` on `deployments.apps`.

use std::time::Duration;

use kubes_hook_sdk::prelude::*;

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    deployment: Option<String>,
    #[serde(deserialize_with = "kubes_hook_sdk::duration::deserialize")]
    timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let timeout = Duration::from_secs(300);
        Config {
            deployment: None,
            timeout,
        }
    }
}

struct RolloutWait;

impl Hook for RolloutWait {
    fn run(ctx: Context) -> Result<(), HookError> {
        let config: Config = ctx.config()?;
        let deployment = match config.deployment {
            Some(name) => ObjectRef::deployment(&name),
            None => ctx.target_object("Deployment")?,
        };
        if ctx.dry_run {
            println!("dry run: would wait for the rollout of {deployment}");
            return Ok(());
        }
        match rollout_wait(&deployment, config.timeout)? {
            RolloutOutcome::Ready { replicas } => {
                println!("{deployment} rolled out ({replicas} replicas available)");
                Ok(())
            }
            RolloutOutcome::Failed { reason, message } => {
                println!("{deployment} rollout failed: {reason}: {message}");
                Err(HookError::msg(format!(
                    "{deployment} rollout failed: {reason}"
                )))
            }
            RolloutOutcome::Timeout { waited, progress } => {
                println!("{deployment} still rolling out after {waited:.1?}: {progress}");
                Err(HookError::msg(format!(
                    "{deployment} rollout timed out after {waited:.1?}"
                )))
            }
        }
    }
}

kubes_hook_sdk::export_hook!(RolloutWait);
