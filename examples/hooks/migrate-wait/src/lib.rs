//! `migrate-wait`: after the migrate Job is applied, wait for it while streaming the logs of
//! its pods (retries included). Succeeds with "Migration complete"; fails at once, not at the
//! timeout, when the Job fails or its pod cannot start, with the reason, the termination
//! message and the last log lines; on timeout prints the last lines and the Job's events.
//!
//! Config (all optional): `job` (default: the Job in the target file), `timeout` (`300s`),
//! `tail_lines` (20), `container` (whose log to follow; default the pod's first).
//! Grants: `watch` on `jobs.batch`, `watch`+`logs` on `pods`, `list` on `events`.

use std::time::Duration;

use kubes_hook_sdk::duration;
use kubes_hook_sdk::prelude::*;

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    job: Option<String>,
    #[serde(deserialize_with = "duration::deserialize")]
    timeout: Duration,
    tail_lines: usize,
    container: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        let timeout = Duration::from_secs(300);
        Config {
            job: None,
            timeout,
            tail_lines: 20,
            container: None,
        }
    }
}

struct MigrateWait;

impl Hook for MigrateWait {
    fn run(ctx: Context) -> Result<(), HookError> {
        let config: Config = ctx.config()?;
        let job = match config.job {
            Some(name) => ObjectRef::job(&name),
            None => ctx.target_object("Job")?,
        };
        if ctx.dry_run {
            println!("dry run: would wait for {job}");
            return Ok(());
        }
        let opts = JobWaitOptions {
            timeout: config.timeout,
            tail_lines: config.tail_lines,
            namespace: job.namespace.clone(),
            container: config.container,
            ..Default::default()
        };
        println!("Waiting for {job} (timeout {:?})", config.timeout);
        match wait_for_job(&job.name, &opts)? {
            JobOutcome::Complete { .. } => {
                println!("Migration complete");
                Ok(())
            }
            JobOutcome::Failed(f) => {
                println!("Migration failed: {f}");
                if let Some(msg) = &f.termination_message {
                    println!("Termination message: {msg}");
                }
                print_lines("Last log lines", &f.last_lines);
                Err(HookError::msg(format!(
                    "migration Job {} failed: {}",
                    job.name, f.reason
                )))
            }
            JobOutcome::Timeout {
                waited,
                job_found,
                last_lines,
                events,
                events_error,
                ..
            } => {
                match job_found {
                    true => println!("Migration still running after {waited:.1?}"),
                    false => println!("{job} did not appear within {waited:.1?}"),
                }
                print_lines("Last log lines", &last_lines);
                println!("Events of {job}:");
                events.iter().for_each(|e| println!("  {e}"));
                if let Some(why) = events_error {
                    println!("  (cannot read events: {why})");
                }
                Err(HookError::msg(format!(
                    "migration Job {} timed out after {waited:.1?}",
                    job.name
                )))
            }
        }
    }
}

fn print_lines(title: &str, lines: &[String]) {
    println!("{title} ({}):", lines.len());
    lines.iter().for_each(|l| println!("  {l}"));
}

kubes_hook_sdk::export_hook!(MigrateWait);
