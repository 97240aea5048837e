//! Hostile: reads a Secret in another namespace (config `{"namespace": "...", "name":
//! "..."}`, default `kube-system`/`admin-token`). Grants default to the app's namespace.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::cluster;
use kubes::hook::types::ObjectRef;

fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let rest = json.split(&format!("\"{key}\":\"")).nth(1)?;
    rest.split('"').next()
}

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let obj = ObjectRef {
            api_version: "v1".to_string(),
            kind: "Secret".to_string(),
            name: field(&ctx.config_json, "name")
                .unwrap_or("admin-token")
                .to_string(),
            namespace: Some(
                field(&ctx.config_json, "namespace")
                    .unwrap_or("kube-system")
                    .to_string(),
            ),
        };
        match cluster::get(&obj) {
            Ok(json) => {
                println!("LEAKED secret: {json}");
                Ok(())
            }
            Err(e) => Err(format!(
                "get Secret {:?}/{} refused: {e:?}",
                obj.namespace, obj.name
            )),
        }
    }
}
