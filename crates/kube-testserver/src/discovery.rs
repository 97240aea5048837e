//! Discovery and the other non-resource paths: `/version`, `/api`, `/apis`, group and
//! group-version resource lists, health checks, and the OpenAPI answers kubectl needs.

use crate::http::{error_response, json_response, App};
use crate::registry::api_resource_list;
use crate::status::ApiError;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde_json::{json, Value};

/// Answer a non-resource path, or None when `path` is a resource URL.
pub fn serve(app: &App, path: &str) -> Option<Response> {
    let c = &app.cluster;
    let r = match path {
        "/version" => json_response(
            200,
            &json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-testserver", "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        "/healthz" | "/readyz" | "/livez" => Response::new(Body::from("ok")),
        "/api" => json_response(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": app.server_address}]}),
        ),
        "/apis" => {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for (g, v) in c.registry.group_versions() {
                if g.is_empty() {
                    continue;
                }
                match groups.iter_mut().find(|(n, _)| *n == g) {
                    Some((_, vs)) => vs.push(v),
                    None => groups.push((g, vec![v])),
                }
            }
            let groups: Vec<Value> = groups.iter().map(|(g, vs)| api_group(g, vs)).collect();
            json_response(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        // An empty protobuf OpenAPI v2 document: kubectl downloads it before validating and
        // finds no schemas, so it skips client-side schema validation.
        "/openapi/v2" => Response::builder()
            .header(
                header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .body(Body::empty())
            .expect("static response parts are valid"),
        _ => {
            let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match segs.as_slice() {
                ["api", v] => {
                    let types = c.registry.all();
                    if !types.iter().any(|t| t.group.is_empty() && t.version == *v) {
                        return Some(error_response(&ApiError::new(
                            404,
                            "NotFound",
                            "the server could not find the requested resource",
                        )));
                    }
                    json_response(200, &api_resource_list(&types, "", v))
                }
                ["apis", g] => {
                    let vs: Vec<String> = c
                        .registry
                        .group_versions()
                        .into_iter()
                        .filter(|(gg, _)| gg == g)
                        .map(|(_, v)| v)
                        .collect();
                    if vs.is_empty() {
                        return Some(error_response(&ApiError::new(
                            404,
                            "NotFound",
                            "the server could not find the requested resource",
                        )));
                    }
                    json_response(200, &api_group(g, &vs))
                }
                ["apis", g, v] => {
                    let types = c.registry.all();
                    if !types.iter().any(|t| t.group == *g && t.version == *v) {
                        return Some(error_response(&ApiError::new(
                            404,
                            "NotFound",
                            "the server could not find the requested resource",
                        )));
                    }
                    json_response(200, &api_resource_list(&types, g, v))
                }
                ["openapi", ..] => error_response(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
                _ => return None,
            }
        }
    };
    Some(r)
}

fn api_group(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs, "preferredVersion": vs[0]})
}
