//! Apply order of output files, as Kubes does it.
//!
//! The rule (Kubes' `Kubectl::Ordering`): sort files by **role first**, then by **kind**.
//! A role listed in `order.roles` (default `common`, `shared`) ranks by its position; every
//! other role ranks after them, alphabetically. Within a role, a kind listed in `order.kinds`
//! ranks by its position; other kinds rank after them, alphabetically. The kind of a file is
//! its name camel-cased (`config_map.yaml` -> `ConfigMap`); if that is not a listed kind but
//! the file's first object is (e.g. `web/deploy.yaml` holding a Deployment), the object's
//! kind ranks it. Delete order is the reverse.
//!
//! So the seed's app orders as `shared/namespace` (listed role), `migrate/job`, `web/service`,
//! `web/deployment`: `migrate` sorts before `web` alphabetically, and within `web` Service is
//! listed before Deployment. A Job is not in the default kinds list; it comes before the web
//! because its role does. List roles in `order.roles` to make such orders explicit.

use std::cmp::Ordering;

/// Kubes' default role order: shared resources first.
pub fn default_role_order() -> Vec<String> {
    ["common", "shared"].iter().map(|s| s.to_string()).collect()
}

/// Kubes' default kind order, so dependencies exist before their dependents.
pub fn default_kind_order() -> Vec<String> {
    [
        "Namespace",
        "StorageClass",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ServiceAccount",
        "PodSecurityPolicy",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Service",
        "LimitRange",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "PodDisruptionBudget",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `config_map` -> `ConfigMap`, `service-account` -> `ServiceAccount`, `job` -> `Job`.
pub fn camelize(stem: &str) -> String {
    stem.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// A file's place in apply order. Compare with `Ord`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RankKey {
    role_rank: usize,
    role: String,
    kind_rank: usize,
    kind: String,
}

impl RankKey {
    /// Rank of the file `role/<kind_stem>.yaml` whose first object has kind `object_kind`.
    pub fn new(roles: &[String], kinds: &[String], role: &str, kind_stem: &str, object_kind: Option<&str>) -> Self {
        let stem_kind = camelize(kind_stem);
        let (kind_rank, kind) = match position(kinds, &stem_kind) {
            Some(i) => (i, stem_kind),
            None => match object_kind.and_then(|k| position(kinds, k).map(|i| (i, k.to_string()))) {
                Some(found) => found,
                None => (usize::MAX, stem_kind),
            },
        };
        RankKey {
            role_rank: position(roles, role).unwrap_or(usize::MAX),
            role: role.to_string(),
            kind_rank,
            kind,
        }
    }
}

fn position(list: &[String], name: &str) -> Option<usize> {
    list.iter().position(|x| x == name)
}

/// Compare two `(role, kind_stem)` files under the default order; used in tests and docs.
pub fn compare_default(a: (&str, &str), b: (&str, &str)) -> Ordering {
    let (roles, kinds) = (default_role_order(), default_kind_order());
    RankKey::new(&roles, &kinds, a.0, a.1, None).cmp(&RankKey::new(&roles, &kinds, b.0, b.1, None))
}

/// Does a skip (or hook `on:`) pattern match the file `role/kind`?
///
/// A pattern with a `/` is matched against `role/kind`; one without matches the role or the
/// kind. `*` matches any run of characters (so `web/*`, `*/job`, `*` work).
pub fn target_matches(pattern: &str, role: &str, kind: &str) -> bool {
    if pattern.contains('/') {
        glob(pattern, &format!("{role}/{kind}"))
    } else {
        glob(pattern, role) || glob(pattern, kind)
    }
}

/// `*`-only glob match (no other metacharacters), iterative with backtracking.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(files: &[(&str, &str)]) -> Vec<String> {
        let mut v: Vec<(&str, &str)> = files.to_vec();
        v.sort_by(|a, b| compare_default(*a, *b));
        v.iter().map(|(r, k)| format!("{r}/{k}")).collect()
    }

    #[test]
    fn seed_app_orders_namespace_migrate_job_web_service_web_deployment() {
        let got = sorted(&[
            ("web", "deployment"),
            ("web", "service"),
            ("migrate", "job"),
            ("shared", "namespace"),
        ]);
        assert_eq!(got, ["shared/namespace", "migrate/job", "web/service", "web/deployment"]);
    }

    #[test]
    fn listed_roles_come_first_and_the_rest_alphabetically() {
        let got = sorted(&[("web", "service"), ("clock", "deployment"), ("shared", "secret"), ("common", "config_map")]);
        assert_eq!(got, ["common/config_map", "shared/secret", "clock/deployment", "web/service"]);
    }

    #[test]
    fn unlisted_kinds_come_after_listed_ones_alphabetically() {
        let got = sorted(&[("web", "ingress"), ("web", "deployment"), ("web", "hpa"), ("web", "config_map")]);
        assert_eq!(got, ["web/config_map", "web/deployment", "web/hpa", "web/ingress"]);
    }

    #[test]
    fn configured_lists_replace_the_defaults() {
        let roles = vec!["web".to_string(), "migrate".to_string()];
        let kinds = vec!["Deployment".to_string(), "Service".to_string()];
        let mut files = [("migrate", "job"), ("web", "service"), ("web", "deployment")];
        files.sort_by_key(|(r, k)| RankKey::new(&roles, &kinds, r, k, None));
        assert_eq!(files, [("web", "deployment"), ("web", "service"), ("migrate", "job")]);
    }

    #[test]
    fn object_kind_ranks_a_file_whose_name_is_not_a_kind() {
        let (roles, kinds) = (default_role_order(), default_kind_order());
        let deploy = RankKey::new(&roles, &kinds, "web", "deploy", Some("Deployment"));
        let svc = RankKey::new(&roles, &kinds, "web", "svc", Some("Service"));
        assert!(svc < deploy);
    }

    #[test]
    fn camelize_handles_underscores_and_dashes() {
        assert_eq!(camelize("config_map"), "ConfigMap");
        assert_eq!(camelize("service-account"), "ServiceAccount");
        assert_eq!(camelize("job"), "Job");
    }

    #[test]
    fn skip_patterns() {
        assert!(target_matches("web/deployment", "web", "deployment"));
        assert!(target_matches("web", "web", "service"));
        assert!(target_matches("job", "migrate", "job"));
        assert!(target_matches("web/*", "web", "service"));
        assert!(target_matches("*/job", "migrate", "job"));
        assert!(!target_matches("web/deployment", "web", "service"));
        assert!(!target_matches("we", "web", "service"));
        assert!(!target_matches("*/job", "migrate", "jobs"));
    }
}
