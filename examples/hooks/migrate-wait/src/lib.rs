//! `migrate-wait`: after the migrate Job is applied, wait for it while streaming the logs of
//! its pods (retries included). Succeeds with "Migration complete"; fails at once, not at the
//! timeout, when the Job fails or its pod cannot start, with the reason, the termination
//! message and the last log lines; on timeout prints the last lines. What it prints is the
//! contract in tests/it/migrate_wait_contract.rs (the Python and JS hooks print the same).
//!
//! Config (all optional): `job` (default: the Job in the target file), `timeout` (`300s`),
//! `tail_lines` (20), `container` (whose log to follow; default every container's).
//! Grants: `watch` on `jobs.batch` (the Job's name), `watch`+`logs` on `pods`.

use kubes_hook_sdk::prelude::*;

struct MigrateWait;

impl Hook for MigrateWait {
    fn run(ctx: Context) -> Result<(), HookError> {
        let config: JobWaitConfig = ctx.config()?;
        let job = config.job(&ctx)?;
        if ctx.dry_run {
            println!("dry run: would wait for Job/{}", job.name);
            return Ok(());
        }
        let timeout = format_duration(config.timeout);
        println!("Waiting for Job/{} (timeout {timeout})", job.name);
        let (last_lines, error) = match wait_for_job(&job.name, &config.options(&job))? {
            JobOutcome::Complete { .. } => {
                println!("Migration complete");
                return Ok(());
            }
            JobOutcome::Failed(f) => {
                println!("Migration failed: {f}");
                if let Some(message) = &f.termination_message {
                    println!("Termination message: {message}");
                }
                (f.last_lines, format!("failed: {}", f.reason))
            }
            JobOutcome::Timeout { last_lines, .. } => {
                println!("Migration still running after {timeout}");
                (last_lines, format!("did not finish within {timeout}"))
            }
        };
        for line in last_lines.report() {
            println!("{line}");
        }
        Err(HookError::msg(format!(
            "migration Job {} {error}",
            job.name
        )))
    }
}

kubes_hook_sdk::export_hook!(MigrateWait);
