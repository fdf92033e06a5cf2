//! The lab as tests see it: `chaos/lab status --json`, deserialized.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// `chaos/lab status --json`; the keys are documented in the README.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub ready: bool,
    pub vip: String,
    pub client_host: String,
    pub manager_hosts: Vec<String>,
    pub hosts: BTreeMap<String, Host>,
    pub nodes: Vec<Node>,
    pub users: BTreeMap<String, User>,
    pub zookeeper: Zookeeper,
    pub ec2: Ec2,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Host {
    pub ip: String,
    pub namespace: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub server_id: u32,
    pub eni_id: String,
    pub az: String,
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Zookeeper {
    pub connect: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ec2 {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub vpc_id: String,
    pub route_table_ids: Vec<String>,
}

impl Status {
    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("lab has no node {name}"))
    }

    pub fn user(&self, role: &str) -> &User {
        self.users
            .get(role)
            .unwrap_or_else(|| panic!("lab status has no {role} user"))
    }

    pub fn namespace(&self, host: &str) -> &str {
        &self
            .hosts
            .get(host)
            .unwrap_or_else(|| panic!("lab has no host {host}"))
            .namespace
    }
}

/// A lab brought up (or found running) for a test. Dropping it takes the lab down again
/// only if this test was the one that brought it up, so a developer's running lab survives.
pub struct Lab {
    pub status: Status,
    started_here: bool,
    // Lab tests share one lab and change it (routes, partitions, failovers): one at a time,
    // across test threads and test binaries alike.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chaos/lab")
}

pub fn lab_cmd(args: &[&str]) -> String {
    let out = Command::new(lab_script())
        .args(args)
        .output()
        .expect("cannot run chaos/lab");
    assert!(
        out.status.success(),
        "chaos/lab {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn status() -> Status {
    serde_json::from_str(&lab_cmd(&["status", "--json"])).expect("chaos/lab status --json is not valid")
}

impl Lab {
    pub fn up() -> Lab {
        let file = std::fs::File::create("/run/myha-lab-tests.lock").expect("create /run/myha-lab-tests.lock");
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("lock /run/myha-lab-tests.lock: {e}"));
        // a lab that is down has no ENIs etc. yet: only `ready` can be read
        let raw: serde_json::Value =
            serde_json::from_str(&lab_cmd(&["status", "--json"])).expect("chaos/lab status --json is not JSON");
        let started_here = raw["ready"] != serde_json::Value::Bool(true);
        lab_cmd(&["up"]);
        Lab {
            status: status(),
            started_here,
            _lock: lock,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.started_here && std::env::var_os("MYHA_KEEP_LAB").is_none() {
            lab_cmd(&["down"]);
        }
    }
}
