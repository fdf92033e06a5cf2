//! Helpers for tests that run against the lab (`chaos/lab`): bring it up, read its
//! `status --json`, and run async code from inside one of its hosts.
#![allow(dead_code)]

pub mod http;
pub mod lab;
pub mod netns;
