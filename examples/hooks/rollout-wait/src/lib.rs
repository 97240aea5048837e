//! `rollout-wait`: after a Deployment is applied, wait until its rollout is done, printing
//! `Waiting for Deployment/NAME rollout: ...` as it progresses (the counts of the latest
//! generation only). Fails at once, not at the timeout, when a pod of the rollout cannot
//! start (ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError...) or the
//! Deployment reports ProgressDeadlineExceeded (or is deleted).
//!
//! Config (all optional): `deployment` (default: the Deployment in the target file),
//! `timeout` (`300s`). Grants: `watch` on `deployments.apps` (the name), `watch` on `pods`.

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
            RolloutOutcome::Failed {
                reason,
                message,
                pod,
            } => {
                let colon = if message.is_empty() { "" } else { ": " };
                let pod = pod.map(|p| format!(" (pod {p})")).unwrap_or_default();
                println!("{deployment} rollout failed: {reason}{colon}{message}{pod}");
                Err(HookError::msg(format!(
                    "{deployment} rollout failed: {reason}"
                )))
            }
            RolloutOutcome::Timeout { progress, .. } => {
                let timeout = format_duration(config.timeout);
                println!("{deployment} still rolling out after {timeout}: {progress}");
                Err(HookError::msg(format!(
                    "{deployment} rollout did not finish within {timeout}"
                )))
            }
        }
    }
}

kubes_hook_sdk::export_hook!(RolloutWait);
