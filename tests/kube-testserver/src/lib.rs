//! A test Kubernetes API server: discovery, CRUD, watch, server-side apply, simulated
//! Job and Deployment controllers, pod logs and fault injection, on 127.0.0.1.
