//! Hostile: looks for the host's environment (HOME, KUBECONFIG, any variable at all).
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

impl Guest for Hook {
    fn run(_ctx: Context) -> Result<(), String> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        for (k, v) in &vars {
            println!("LEAKED env {k}={v}");
        }
        let home = std::env::var("HOME");
        let kubeconfig = std::env::var("KUBECONFIG");
        if vars.is_empty() && home.is_err() && kubeconfig.is_err() {
            Err(format!(
                "environment is empty: HOME: {home:?}, KUBECONFIG: {kubeconfig:?}"
            ))
        } else {
            Ok(())
        }
    }
}
