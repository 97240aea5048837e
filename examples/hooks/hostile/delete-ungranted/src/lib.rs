//! Hostile: deletes an object its grants do not cover (config `{"kind": "Job",
//! "apiVersion": "batch/v1", "name": "..."}`, default the Job `migrate`).
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
            api_version: field(&ctx.config_json, "apiVersion")
                .unwrap_or("batch/v1")
                .to_string(),
            kind: field(&ctx.config_json, "kind").unwrap_or("Job").to_string(),
            name: field(&ctx.config_json, "name")
                .unwrap_or("migrate")
                .to_string(),
            namespace: None,
        };
        match cluster::delete(&obj, None) {
            Ok(existed) => {
                println!(
                    "LEAKED delete: {}/{} deleted (existed: {existed})",
                    obj.kind, obj.name
                );
                Ok(())
            }
            Err(e) => Err(format!("delete {}/{} refused: {e:?}", obj.kind, obj.name)),
        }
    }
}
