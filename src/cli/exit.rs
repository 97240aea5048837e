//! Exit codes, distinct for what a CI job branches on (docs/ci.md lists them):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (`diff`: no differences; `hooks audit --check`: the audit matches) |
//! | 1 | a hook failed or could not be loaded (`diff`, `hooks audit --check`: differences) |
//! | 2 | bad input: arguments, project files, hooks.yaml, a refused confirmation |
//! | 3 | cluster error: the cluster could not be reached or refused or failed a request, the deploy lease or a Terminating namespace was not waited out |
//! | 128 + signal | interrupted (130 for SIGINT, 143 for SIGTERM) |

use std::process::ExitCode;

use crate::cluster::report::{Report, INTERRUPTED};
use crate::cluster::ClusterError;
use crate::hooks::{HookError, RunFailure};
use crate::lifecycle::LifecycleFailure;

pub const HOOK_FAILED: u8 = 1;
/// `kubes diff` and `kubes hooks audit --check` found differences (they run no hooks).
pub const DIFFERS: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const CLUSTER_ERROR: u8 = 3;

/// The exit code of a run's report.
pub fn for_report(report: &Report) -> ExitCode {
    match &report.failure {
        None if report.ok => ExitCode::SUCCESS,
        Some(f) if f.kind == "hook" || f.hook.is_some() => ExitCode::from(HOOK_FAILED),
        // Interrupted runs exit 128 + the signal (`run_interruptible`); 1 if one ever
        // reaches here without a signal.
        Some(f) if f.kind == INTERRUPTED => ExitCode::from(HOOK_FAILED),
        _ => ExitCode::from(CLUSTER_ERROR),
    }
}

/// The exit code of an error that stopped a command before or outside a run.
pub fn for_error(err: &anyhow::Error) -> u8 {
    let chain = || err.chain();
    if chain().any(|e| e.is::<HookError>() || e.is::<RunFailure>() || e.is::<LifecycleFailure>()) {
        HOOK_FAILED
    } else if chain().any(|e| e.is::<ClusterError>() || e.is::<kube::Error>()) {
        CLUSTER_ERROR
    } else {
        BAD_INPUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_told_apart_through_their_context() {
        let cluster = anyhow::Error::new(ClusterError::Forbidden("no".into())).context("applying");
        assert_eq!(for_error(&cluster), CLUSTER_ERROR);
        let input = anyhow::anyhow!("config.yaml line 3: unknown key").context("loading");
        assert_eq!(for_error(&input), BAD_INPUT);
    }
}
