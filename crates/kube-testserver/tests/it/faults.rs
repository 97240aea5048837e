//! Injected faults reach real clients: throttling and server errors, slow answers, and
//! watch and log streams that break off.

use crate::common;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, LogParams, PostParams, WatchParams};
use kube_testserver::{Faults, Options, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

fn with_faults(faults: Faults) -> Options {
    Options {
        faults,
        ..Options::default()
    }
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

/// The status code of each of `n` sequential GETs of the namespace list.
async fn codes(srv: &TestServer, n: usize) -> Vec<u16> {
    let client = common::client_with_retry(srv, false).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let req = http::Request::get("/api/v1/namespaces/default/configmaps")
            .body(Vec::new())
            .unwrap();
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        if resp.status() == 429 {
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                Some("1")
            );
        }
        out.push(resp.status().as_u16());
    }
    out
}

#[tokio::test]
async fn clients_see_429s_and_server_errors_at_the_configured_rates_deterministically() {
    let faults = Faults {
        rate_429: 0.3,
        rate_500: 0.1,
        rate_503: 0.1,
        seed: 7,
        ..Faults::default()
    };
    let srv = TestServer::start(with_faults(faults.clone()))
        .await
        .unwrap();
    let first = codes(&srv, 200).await;
    let count = |c: u16| first.iter().filter(|&&x| x == c).count();
    assert!((40..=80).contains(&count(429)), "429s: {}", count(429));
    assert!((8..=35).contains(&count(500)), "500s: {}", count(500));
    assert!((8..=35).contains(&count(503)), "503s: {}", count(503));
    assert_eq!(count(200) + count(429) + count(500) + count(503), 200);

    // Same seed, same order of requests: the same faults.
    let again = TestServer::start(with_faults(faults)).await.unwrap();
    assert_eq!(codes(&again, 200).await, first);

    // kube-rs reports a throttled call as the API error it is.
    let always = TestServer::start(with_faults(Faults {
        rate_429: 1.0,
        ..Faults::default()
    }))
    .await
    .unwrap();
    let cms: Api<ConfigMap> =
        Api::namespaced(common::client_with_retry(&always, false).await, "default");
    match cms.list(&ListParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests")),
        other => panic!("expected a 429, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_rs_default_retry_rides_out_occasional_429s_using_retry_after() {
    let srv = TestServer::start(with_faults(Faults {
        rate_429: 0.3,
        seed: 3,
        ..Faults::default()
    }))
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(common::client(&srv).await, "default");
    for i in 0..4 {
        cms.create(&PostParams::default(), &cm(&format!("r{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        4
    );
}

#[tokio::test]
async fn latency_is_added_to_resource_requests() {
    let srv = TestServer::start(with_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    }))
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(common::client(&srv).await, "default");
    let t = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "answered after {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn watch_streams_drop_after_the_configured_number_of_events() {
    let srv = TestServer::start(with_faults(Faults {
        drop_watch_after: Some(2),
        ..Faults::default()
    }))
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(common::client(&srv).await, "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .unwrap();
    }
    let events: Vec<_> =
        tokio::time::timeout(Duration::from_secs(5), stream.try_collect::<Vec<_>>())
            .await
            .expect("the stream ends early instead of waiting for more events")
            .unwrap();
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn log_streams_drop_mid_way() {
    let srv = TestServer::start(with_faults(Faults {
        drop_logs_after: Some(1),
        ..Faults::default()
    }))
    .await
    .unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let script = r#"{"attempts": [{"logs": [{"line": "one", "after_ms": 50}, {"line": "two", "after_ms": 300}, {"line": "three"}]}]}"#;
    let job: Job =
        serde_json::from_value(json!({"metadata": {"name": "logs"}, "spec": {"template": {
        "metadata": {"annotations": {"kubes.test/script": script}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}))
        .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let pod = loop {
        let list = pods
            .list(&ListParams::default().labels("job-name=logs"))
            .await
            .unwrap();
        if let Some(p) = list
            .items
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        {
            break p.metadata.name.clone().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let stream = pods
        .log_stream(
            &pod,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lines: Vec<String> =
        tokio::time::timeout(Duration::from_secs(5), stream.lines().try_collect())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(lines, ["one"]);
}
