//! Watch streams: replayed or synthetic initial events, then the live change feed, as
//! newline-delimited JSON (or Table rows for kubectl), with bookmarks, timeouts, 410 Gone
//! for compacted versions, and the drop-after-N fault.

use crate::http::{at_version, list_options, stream_response, wants_table, App, Query};
use crate::meta;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::{EventType, WatchEvent};
use crate::table;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// One watch stream: replayed or synthetic initial events, then the live feed, as
/// newline-delimited JSON; ends at `timeoutSeconds`, or early when faults drop it.
pub fn serve(
    app: &App,
    rt: &ResourceType,
    ns: Option<&str>,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let c = &app.cluster;
    let opts = list_options(q)?;
    let as_table = wants_table(headers);
    let include = q
        .get("includeObject")
        .cloned()
        .unwrap_or_else(|| "Metadata".into());
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let send_initial = q.get("sendInitialEvents").is_some_and(|b| b == "true");
    let rv: u64 = q
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let key = rt.storage_key();
    let (initial, mut feed, replay) = if rv == 0 || send_initial {
        let (items, feed) = c.snapshot_and_subscribe(rt, ns);
        (items, feed, Vec::new())
    } else {
        match c.watch_from(rv) {
            Ok(start) => (Vec::new(), start.feed, start.replay),
            Err(e) => {
                // A real apiserver answers 200 and sends the 410 as an ERROR event.
                let (tx, rx) = mpsc::channel::<Bytes>(1);
                let line = json!({"type": "ERROR", "object": e.to_status()});
                let _ = tx.try_send(Bytes::from(format!("{line}\n")));
                return Ok(stream_response(rx));
            }
        }
    };
    let matches = {
        let key = key.clone();
        let ns = ns.map(str::to_string);
        move |ev: &WatchEvent| {
            ev.key == key
                && ns.as_deref().is_none_or(|n| n == ev.namespace)
                && meta::labels_match(&opts.labels, ev.object.pointer("/metadata/labels"))
                && meta::fields_match(&opts.fields, &ev.object)
        }
    };
    let (bookmark_api_version, kind_name) = (rt.api_version(), rt.kind.clone());
    let rt = rt.clone();
    let encode = move |kind: &str, obj: &Value| -> Bytes {
        let object = if as_table && kind != "BOOKMARK" && kind != "ERROR" {
            let mut t = table::table(
                &rt,
                &[obj],
                obj.pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                None,
                &include,
            );
            // Column definitions only on the first event would be enough; kubectl copes either way.
            t["metadata"] = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
            t
        } else if kind == "BOOKMARK" || kind == "ERROR" {
            obj.clone()
        } else {
            at_version(&rt, obj)
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let drop_after = app.faults.drop_watch_after;
    let compact_on_drop = app.faults.compact_on_watch_drop.then(|| c.clone());
    let initial_rv = c.resource_version();
    tokio::spawn(async move {
        let mut sent = 0usize;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut last_rv = initial_rv.max(rv);
        macro_rules! send {
            ($bytes:expr) => {{
                if tx.send($bytes).await.is_err() {
                    return;
                }
                sent += 1;
                if drop_after.is_some_and(|n| sent >= n) {
                    // Before the stream ends, so the client's resume finds its version gone.
                    if let Some(c) = &compact_on_drop {
                        c.compact_history();
                    }
                    return;
                }
            }};
        }
        for obj in &initial {
            if matches(&WatchEvent {
                rv: 0,
                key: key.clone(),
                namespace: meta::namespace_of(obj).to_string(),
                kind: EventType::Added,
                object: obj.clone(),
            }) {
                send!(encode("ADDED", obj));
            }
        }
        if send_initial {
            let bm = json!({"kind": kind_name, "apiVersion": bookmark_api_version,
                "metadata": {"resourceVersion": initial_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            send!(encode("BOOKMARK", &bm));
        }
        for ev in replay.iter().filter(|e| matches(e)) {
            last_rv = ev.rv;
            send!(encode(ev.kind.as_str(), &ev.object));
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        ticker.tick().await;
        loop {
            let sleep_until = deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                ev = feed.recv() => match ev {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if matches(&ev) {
                            send!(encode(ev.kind.as_str(), &ev.object));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = ApiError::gone("the watch fell too far behind; the events it missed are no longer available");
                        let _ = tx.send(encode("ERROR", &e.to_status())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    let bm = json!({"kind": kind_name, "apiVersion": bookmark_api_version, "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(encode("BOOKMARK", &bm)).await.is_err() { return; }
                }
                _ = tokio::time::sleep_until(sleep_until) => return,
            }
        }
    });
    Ok(stream_response(rx))
}
