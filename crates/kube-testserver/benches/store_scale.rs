//! Scale figures of the test server: memory held for 10,000 ConfigMaps and the time to list
//! them, next to the empty-server / 100-object baseline, through a real kube-rs client over
//! HTTPS. Targets: under 200 MB RSS with 10,000 objects; a 10,000-item list in under 1 s.
//!
//! Run: `cargo bench -p kube-testserver --bench store_scale`

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_testserver::{Options, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn configmap(i: usize) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": format!("cm-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "data": {"config.yaml": format!("replicas: {i}\nmode: fast\nendpoint: http://svc-{i}.default.svc:8080\n"), "index": i.to_string()}
    }))
    .expect("a valid ConfigMap")
}

async fn fill(cms: &Api<ConfigMap>, from: usize, to: usize) -> Duration {
    let t = Instant::now();
    futures::stream::iter(from..to)
        .map(|i| {
            let cms = cms.clone();
            async move { cms.create(&PostParams::default(), &configmap(i)).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("creates succeed");
    t.elapsed()
}

/// Best of `n` full list calls (deserialized by kube-rs into typed ConfigMaps).
async fn list_time(cms: &Api<ConfigMap>, n: usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..n {
        let t = Instant::now();
        let list = cms
            .list(&ListParams::default())
            .await
            .expect("list succeeds");
        best = best.min(t.elapsed());
        count = list.items.len();
    }
    (best, count)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rss_before = rss_mb();
    let srv = TestServer::start(Options::default()).await?;
    let kc = Kubeconfig::read_from(srv.kubeconfig_path())?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?,
    )?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    list_time(&cms, 1).await;
    let rss_empty = rss_mb();

    let fill_100 = fill(&cms, 0, 100).await;
    let (list_100, n_100) = list_time(&cms, 5).await;
    let rss_100 = rss_mb();

    let fill_rest = fill(&cms, 100, 10_000).await;
    let rss_10k = rss_mb();
    let (list_10k, n_10k) = list_time(&cms, 5).await;
    let rss_after_lists = rss_mb();
    let (label_10k, n_label) = {
        let t = Instant::now();
        let l = cms.list(&ListParams::default().labels("shard=3")).await?;
        (t.elapsed(), l.items.len())
    };

    println!("kube-testserver scale (in-process server + kube-rs client, HTTPS, one process)");
    println!(
        "{:<52} {:>14} {:>14}",
        "measure", "baseline", "10,000 objects"
    );
    println!(
        "{:<52} {:>11.1} MB {:>11.1} MB",
        "process RSS (baseline: empty server)", rss_empty, rss_10k
    );
    println!(
        "{:<52} {:>11.1} MB {:>11.1} MB",
        "RSS growth over the empty server",
        0.0,
        rss_10k - rss_empty
    );
    println!(
        "{:<52} {:>11.1} MB {:>11.1} MB",
        "RSS after 5 full lists", rss_100, rss_after_lists
    );
    println!(
        "{:<52} {:>11.1} ms {:>11.1} ms",
        format!("list all ConfigMaps, best of 5 ({n_100} / {n_10k} items)"),
        list_100.as_secs_f64() * 1e3,
        list_10k.as_secs_f64() * 1e3
    );
    println!(
        "{:<52} {:>14} {:>11.1} ms",
        format!("list with labelSelector ({n_label} of 10,000)"),
        "-",
        label_10k.as_secs_f64() * 1e3
    );
    println!(
        "{:<52} {:>11.2} ms {:>11.2} ms",
        "create, per object (32 concurrent)",
        fill_100.as_secs_f64() * 1e3 / 100.0,
        fill_rest.as_secs_f64() * 1e3 / 9_900.0
    );
    let stored = srv.object_count();
    let t = Instant::now();
    cms.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let delete_all = t.elapsed();
    println!(
        "{:<52} {:>14} {:>11.1} ms",
        "deletecollection of all 10,000",
        "-",
        delete_all.as_secs_f64() * 1e3
    );
    println!("objects stored: {stored} (incl. namespaces); RSS before the server started: {rss_before:.1} MB");
    println!(
        "targets: RSS < 200 MB with 10,000 objects: {}; 10,000-item list < 1 s: {}",
        if rss_after_lists < 200.0 {
            "met"
        } else {
            "MISSED"
        },
        if list_10k < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}
