//! Hostile: smuggles paths, queries and garbage through every string a cluster call takes
//! (name, namespace, kind, apiVersion, label selector, container) to reach subresources,
//! other namespaces or other kinds. Meant for a grant of `verbs: [get, list, watch, logs,
//! delete], resources: [pods, configmaps, events]` in the app's namespace, with a pod there.
//!
//! Prints `attempt <label>: refused: <error>` or `LEAKED <label>: <answer>` per attempt (the
//! error's `{:?}` starts with its variant, e.g. `ClusterError::Invalid(...)`), then gets the
//! pod plainly as a control (`control: got pod <pod>` or `control failed: <error>`). Fails
//! with `leaked: <labels>` when any attempt got through.
//!
//! Config (optional): `{"pod": "<pod name>"}`, default `victim`.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::cluster::{self, LogOptions};
use kubes::hook::types::{ClusterError, KindRef, ObjectRef};

/// Collects the outcome of each attempt and prints one line per attempt.
#[derive(Default)]
struct Attempts {
    leaked: Vec<&'static str>,
}

impl Attempts {
    fn check(&mut self, label: &'static str, result: Result<String, ClusterError>) {
        match result {
            Ok(answer) => {
                println!("LEAKED {label}: {}", one_line(&answer, 200));
                self.leaked.push(label);
            }
            Err(e) => println!("attempt {label}: refused: {}", cut(&format!("{e:?}"), 300)),
        }
    }

    fn finish(self) -> Result<(), String> {
        if self.leaked.is_empty() {
            Ok(())
        } else {
            Err(format!("leaked: {}", self.leaked.join(",")))
        }
    }
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
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

fn joined(items: Vec<String>) -> String {
    format!("{} items: {}", items.len(), items.join(","))
}

fn pod_ref(name: &str, namespace: Option<&str>) -> ObjectRef {
    ObjectRef {
        api_version: "v1".to_string(),
        kind: "Pod".to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
    }
}

fn pods() -> KindRef {
    KindRef {
        api_version: "v1".to_string(),
        kind: "Pod".to_string(),
    }
}

fn log_options(container: Option<&str>) -> LogOptions {
    LogOptions {
        container: container.map(str::to_string),
        follow: false,
        tail_lines: Some(1),
    }
}

/// `name` with its first letter upper-cased (`victim` -> `Victim`).
fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "X".to_string(),
    }
}

/// `name` with its first Latin letter that has a Cyrillic look-alike swapped for it
/// (`victim` -> `vіctim`, Cyrillic і); appends `і` when there is none.
fn homoglyph(name: &str) -> String {
    let swap = |c: char| match c {
        'a' => Some('а'),
        'c' => Some('с'),
        'e' => Some('е'),
        'i' => Some('і'),
        'o' => Some('о'),
        'p' => Some('р'),
        'x' => Some('х'),
        'y' => Some('у'),
        _ => None,
    };
    match name
        .char_indices()
        .find_map(|(i, c)| swap(c).map(|s| (i, c, s)))
    {
        Some((i, c, s)) => format!("{}{s}{}", &name[..i], &name[i + c.len_utf8()..]),
        None => format!("{name}і"),
    }
}

/// A well-formed label selector (`l0=v,l1=v,...`) of about 100 KiB.
fn huge_selector() -> String {
    let mut selector = String::with_capacity(100 * 1024 + 16);
    let mut i = 0;
    while selector.len() < 100 * 1024 {
        if i > 0 {
            selector.push(',');
        }
        selector.push_str(&format!("l{i}=v"));
        i += 1;
    }
    selector
}

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let config: serde_json::Value =
            serde_json::from_str(&ctx.config_json).unwrap_or(serde_json::Value::Null);
        let pod = config
            .get("pod")
            .and_then(|v| v.as_str())
            .unwrap_or("victim")
            .to_string();
        let mut attempts = Attempts::default();
        let get = |name: &str| cluster::get(&pod_ref(name, None));

        attempts.check(
            "get-subresource-log",
            get(&format!("{pod}/log?tailLines=1")),
        );
        attempts.check("get-subresource-encoded", get(&format!("{pod}%2Flog")));
        attempts.check("get-dot", get("."));
        attempts.check("get-dotdot", get(".."));
        attempts.check("get-query", get(&format!("{pod}?watch=true")));
        attempts.check("get-fragment", get(&format!("{pod}#x")));
        attempts.check("get-empty", get(""));
        attempts.check("get-long", get(&"a".repeat(300)));
        attempts.check("get-upper", get(&upper_first(&pod)));
        attempts.check("get-newline", get(&format!("{pod}\nx")));
        attempts.check("get-unicode", get(&homoglyph(&pod)));

        attempts.check(
            "ns-traversal",
            cluster::get(&pod_ref(&pod, Some("../../kube-system"))),
        );
        attempts.check("ns-slash", cluster::get(&pod_ref(&pod, Some("demo/pods"))));

        let mut kind_slash = pod_ref(&pod, None);
        kind_slash.kind = "Pod/log".to_string();
        attempts.check("kind-slash", cluster::get(&kind_slash));

        let mut api_traversal = pod_ref(&pod, None);
        api_traversal.api_version = "v1/../../apis/rbac.authorization.k8s.io/v1".to_string();
        attempts.check("apiversion-traversal", cluster::get(&api_traversal));

        let mut api_query = pod_ref(&pod, None);
        api_query.api_version = "v1?x=y".to_string();
        attempts.check("apiversion-query", cluster::get(&api_query));

        let list = |selector: &str| cluster::list(&pods(), None, Some(selector)).map(joined);
        attempts.check(
            "selector-injection",
            list("app=web&fieldSelector=metadata.name=x"),
        );
        attempts.check("selector-garbage", list("a in (b"));
        attempts.check("selector-huge", list(&huge_selector()));

        attempts.check(
            "watch-name",
            cluster::watch(&pods(), None, Some(&format!("{pod}/log")), None).map(|watcher| {
                drop(watcher);
                "watch opened".to_string()
            }),
        );

        let opened = |stream: cluster::LogStream| {
            drop(stream);
            "log stream opened".to_string()
        };
        attempts.check(
            "logs-pod-traversal",
            cluster::logs(&format!("{pod}/../other"), None, &log_options(None)).map(opened),
        );
        attempts.check(
            "logs-container",
            cluster::logs(&pod, None, &log_options(Some("c/../../x"))).map(opened),
        );
        attempts.check(
            "logs-container-query",
            cluster::logs(&pod, None, &log_options(Some("c?follow=true"))).map(opened),
        );

        attempts.check(
            "events-name",
            cluster::events(&pod_ref("x,involvedObject.namespace=kube-system", None)).map(joined),
        );
        attempts.check(
            "delete-traversal",
            cluster::delete(&pod_ref("../configmaps/allowed", None), None)
                .map(|gone| format!("deleted={gone}")),
        );

        // Control: the plain call the grant allows must still work.
        match get(&pod) {
            Ok(_) => println!("control: got pod {pod}"),
            Err(e) => println!("control failed: {}", cut(&format!("{e:?}"), 300)),
        }

        attempts.finish()
    }
}
