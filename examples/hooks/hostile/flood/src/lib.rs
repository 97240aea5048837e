//! Hostile: floods the host with resources it is allowed to ask for, one kind per run.
//!
//! Config `{"mode": "...", ...}`:
//! - `watches`: opens `count` (default 150) watches on `kind` (default `Pod`, apiVersion v1)
//!   in the app's namespace, keeps
//!   them all open unread, prints `opened N watches` (and `first refusal: <error>` if any
//!   was refused), sleeps `hold_ms` (default 2000) on the monotonic clock, returns Ok.
//! - `big-apply`: applies a ConfigMap `big` whose JSON text is `mib` (default 96) MiB;
//!   prints `apply refused: <error>` (returns Ok) or `LEAKED big-apply` (fails).
//! - `denials`: gets `count` (default 1500) ConfigMaps `denied-<i>` that no grant covers,
//!   then `long` (default 20) gets with a 1 MiB name; prints `denied N, invalid M` (N: calls
//!   refused with any error, M: long-name calls refused as `invalid`). Any call that
//!   succeeds prints `LEAKED <label>: ...` and fails the hook.
//! - `output`: prints `lines` (default 200000) lines of 100 `x`, returns Ok.
//! - `follows`: first asks to follow Jobs and Deployments with hostile names (paths, selector
//!   and query syntax, control characters, 1 MiB), printing `hostile follows refused N of M`
//!   (`LEAKED follow <label>` for any accepted); then opens `count` (default 150)
//!   `follow-job`s of `job` (default `migrate`), every other one a `follow-rollout` of
//!   `deployment` (default `web`), keeps them all open unread, prints `opened N follows`
//!   (and `first refusal: <error>`), sleeps `hold_ms` (default 2000), returns Ok.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::{cluster, progress};
use kubes::hook::types::{ClusterError, KindRef, ObjectRef};
use std::io::Write;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn error_text(e: &ClusterError) -> String {
    cut(&format!("{e:?}"), 300)
}

/// At most `max` characters of `text`, control characters escaped so it stays one line.
fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn watches(namespace: &str, kind: &str, count: u64, hold_ms: u64) -> Result<(), String> {
    let pods = KindRef {
        api_version: "v1".to_string(),
        kind: kind.to_string(),
    };
    let mut open = Vec::new();
    let mut first_refusal = None;
    for _ in 0..count {
        match cluster::watch(&pods, Some(namespace), None, None) {
            Ok(watcher) => open.push(watcher),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    println!("opened {} watches", open.len());
    if let Some(e) = &first_refusal {
        println!("first refusal: {}", error_text(e));
    }
    wasi::clocks::monotonic_clock::subscribe_duration(hold_ms.saturating_mul(1_000_000)).block();
    drop(open);
    Ok(())
}

fn follows(job: &str, deployment: &str, count: u64, hold_ms: u64) -> Result<(), String> {
    let options = || progress::JobOptions {
        logs: true,
        container: None,
        pull_grace_ms: 30_000,
    };
    let long = "a".repeat(1024 * 1024);
    let hostile: [(&str, &str); 9] = [
        ("traversal", "../../secrets/db-password"),
        ("slash", "migrate/log"),
        ("selector", "migrate,metadata.name!=x"),
        ("query", "migrate?watch=true"),
        ("newline", "migrate\nx"),
        ("encoded", "migrate%2Fx"),
        ("upper", "Migrate"),
        ("empty", ""),
        ("long", &long),
    ];
    let (mut tried, mut refused, mut leaked) = (0, 0, Vec::new());
    for (label, name) in hostile {
        let name = name.to_string();
        tried += 2;
        match progress::follow_job(&name, None, &options()) {
            Ok(_) => leaked.push(format!("job-{label}")),
            Err(_) => refused += 1,
        }
        match progress::follow_rollout(&name, None) {
            Ok(_) => leaked.push(format!("rollout-{label}")),
            Err(_) => refused += 1,
        }
        // A hostile container name for a good Job (an empty one means every container).
        if name.is_empty() {
            continue;
        }
        tried += 1;
        let opts = progress::JobOptions { container: Some(name.clone()), ..options() };
        match progress::follow_job(job, None, &opts) {
            Ok(_) => leaked.push(format!("container-{label}")),
            Err(_) => refused += 1,
        }
    }
    for l in &leaked {
        println!("LEAKED follow {l}");
    }
    println!("hostile follows refused {refused} of {tried}");
    let mut jobs = Vec::new();
    let mut rollouts = Vec::new();
    let mut first_refusal = None;
    for i in 0..count {
        let opened = if i % 2 == 0 {
            progress::follow_job(job, None, &options()).map(|f| jobs.push(f))
        } else {
            progress::follow_rollout(deployment, None).map(|f| rollouts.push(f))
        };
        if let Err(e) = opened {
            first_refusal.get_or_insert(e);
        }
    }
    println!("opened {} follows", jobs.len() + rollouts.len());
    if let Some(e) = &first_refusal {
        println!("first refusal: {}", error_text(e));
    }
    wasi::clocks::monotonic_clock::subscribe_duration(hold_ms.saturating_mul(1_000_000)).block();
    drop((jobs, rollouts));
    if leaked.is_empty() {
        Ok(())
    } else {
        Err(format!("leaked: {}", leaked.join(",")))
    }
}

fn big_apply(mib: u64) -> Result<(), String> {
    let size = (mib as usize).saturating_mul(1024 * 1024);
    let head = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":""#;
    let tail = r#""}}"#;
    let padding = size.saturating_sub(head.len() + tail.len());
    let mut json = String::with_capacity(head.len() + padding + tail.len());
    json.push_str(head);
    json.extend(std::iter::repeat('x').take(padding));
    json.push_str(tail);
    match cluster::apply(&json) {
        Ok(_) => {
            println!("LEAKED big-apply");
            Err("leaked: big-apply".to_string())
        }
        Err(e) => {
            println!("apply refused: {}", error_text(&e));
            Ok(())
        }
    }
}

fn denials(count: u64, long: u64) -> Result<(), String> {
    let config_map = |name: String| ObjectRef {
        api_version: "v1".to_string(),
        kind: "ConfigMap".to_string(),
        name,
        namespace: None,
    };
    let mut leaked = Vec::new();
    let mut denied = 0u64;
    for i in 0..count {
        match cluster::get(&config_map(format!("denied-{i}"))) {
            Ok(json) => {
                println!("LEAKED denied-{i}: {}", one_line(&json, 200));
                leaked.push(format!("denied-{i}"));
            }
            Err(_) => denied += 1,
        }
    }
    let long_name = "a".repeat(1024 * 1024);
    let mut invalid = 0u64;
    for i in 0..long {
        match cluster::get(&config_map(long_name.clone())) {
            Ok(json) => {
                println!("LEAKED long-{i}: {}", one_line(&json, 200));
                leaked.push(format!("long-{i}"));
            }
            Err(ClusterError::Invalid(_)) => invalid += 1,
            Err(_) => {}
        }
    }
    println!("denied {denied}, invalid {invalid}");
    if leaked.is_empty() {
        Ok(())
    } else {
        Err(format!("leaked: {}", leaked.join(",")))
    }
}

fn output(lines: u64) -> Result<(), String> {
    let line = format!("{}\n", "x".repeat(100));
    let mut stdout = std::io::stdout().lock();
    for _ in 0..lines {
        // The host may close or cap stdout: stop quietly, the flood is the point.
        if stdout.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = stdout.flush();
    Ok(())
}

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let config: serde_json::Value =
            serde_json::from_str(&ctx.config_json).unwrap_or(serde_json::Value::Null);
        let number =
            |key: &str, default: u64| config.get(key).and_then(|v| v.as_u64()).unwrap_or(default);
        match config.get("mode").and_then(|v| v.as_str()) {
            Some("watches") => watches(
                &ctx.namespace,
                config.get("kind").and_then(|v| v.as_str()).unwrap_or("Pod"),
                number("count", 150),
                number("hold_ms", 2000),
            ),
            Some("big-apply") => big_apply(number("mib", 96)),
            Some("denials") => denials(number("count", 1500), number("long", 20)),
            Some("output") => output(number("lines", 200_000)),
            Some("follows") => follows(
                config.get("job").and_then(|v| v.as_str()).unwrap_or("migrate"),
                config.get("deployment").and_then(|v| v.as_str()).unwrap_or("web"),
                number("count", 150),
                number("hold_ms", 2000),
            ),
            other => Err(format!(
                "config mode must be watches, big-apply, denials, output or follows, not {other:?}"
            )),
        }
    }
}
