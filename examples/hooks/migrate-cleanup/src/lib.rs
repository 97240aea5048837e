//! `migrate-cleanup`: before the migrate Job is applied, delete the previous one (its pods go
//! with it) and wait until it is gone, so the apply creates a fresh Job. Absent is fine.
//!
//! Config (all optional): `job` (default: the Job in the hook's target file),
//! `timeout` (default `60s`: how long to wait until it is gone).
//! Grants: `delete` on `jobs.batch` (the Job's name).

use std::time::Duration;

use kubes_hook_sdk::prelude::*;

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    job: Option<String>,
    #[serde(deserialize_with = "kubes_hook_sdk::duration::deserialize")]
    timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let timeout = Duration::from_secs(60);
        Config { job: None, timeout }
    }
}

struct Cleanup;

impl Hook for Cleanup {
    fn run(ctx: Context) -> Result<(), HookError> {
        let config: Config = ctx.config()?;
        let job = match config.job {
            Some(name) => ObjectRef::job(&name),
            None => ctx.target_object("Job")?,
        };
        if ctx.dry_run {
            println!("dry run: would delete {job} and wait until it is gone");
            return Ok(());
        }
        if delete_if_exists_and_wait(&job, config.timeout)? {
            println!("job.batch \"{}\" deleted", job.name);
        } else {
            println!("job.batch \"{}\" not found: nothing to clean up", job.name);
        }
        Ok(())
    }
}

kubes_hook_sdk::export_hook!(Cleanup);
