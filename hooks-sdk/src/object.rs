//! Typed constructors for [`ObjectRef`] and [`KindRef`], so hooks name objects the way
//! Kubernetes does without spelling out API versions.

use std::fmt;

use crate::{KindRef, ObjectRef};

impl ObjectRef {
    /// Any object, in the app's namespace.
    ///
    /// ```
    /// # use kubes_hook_sdk::ObjectRef;
    /// let cm = ObjectRef::new("v1", "ConfigMap", "settings");
    /// assert_eq!(cm.to_string(), "ConfigMap/settings");
    /// assert_eq!(cm.namespace, None);
    /// ```
    pub fn new(api_version: &str, kind: &str, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: None,
        }
    }

    /// A `batch/v1` Job.
    ///
    /// ```
    /// # use kubes_hook_sdk::ObjectRef;
    /// let job = ObjectRef::job("migrate");
    /// assert_eq!((job.api_version.as_str(), job.kind.as_str()), ("batch/v1", "Job"));
    /// ```
    pub fn job(name: &str) -> Self {
        Self::new("batch/v1", "Job", name)
    }

    /// An `apps/v1` Deployment.
    pub fn deployment(name: &str) -> Self {
        Self::new("apps/v1", "Deployment", name)
    }

    /// A `v1` Pod.
    pub fn pod(name: &str) -> Self {
        Self::new("v1", "Pod", name)
    }

    /// A `v1` ConfigMap.
    pub fn config_map(name: &str) -> Self {
        Self::new("v1", "ConfigMap", name)
    }

    /// The same object in another namespace (the hook needs a grant for it).
    ///
    /// ```
    /// # use kubes_hook_sdk::ObjectRef;
    /// let job = ObjectRef::job("migrate").in_namespace("db");
    /// assert_eq!(job.namespace.as_deref(), Some("db"));
    /// ```
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// The object's type, for `list` and `watch`.
    pub fn kind_ref(&self) -> KindRef {
        KindRef::new(&self.api_version, &self.kind)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} in {ns}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl KindRef {
    /// A type of object, e.g. `KindRef::new("batch/v1", "Job")`.
    pub fn new(api_version: &str, kind: &str) -> Self {
        KindRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// `batch/v1` Jobs.
    pub fn jobs() -> Self {
        Self::new("batch/v1", "Job")
    }

    /// `v1` Pods.
    pub fn pods() -> Self {
        Self::new("v1", "Pod")
    }

    /// `apps/v1` Deployments.
    pub fn deployments() -> Self {
        Self::new("apps/v1", "Deployment")
    }

    /// `v1` Events.
    pub fn events() -> Self {
        Self::new("v1", "Event")
    }
}

impl fmt::Display for KindRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.api_version)
    }
}
