//! The test server's stories, in one test binary (one link of kube-rs instead of five):
//! the binary itself, kube-rs and the real kubectl as clients, strict Kubernetes behaviour,
//! and injected faults.

mod common;

mod binary;
mod faults;
mod kube_client;
mod kubectl;
mod strict;
