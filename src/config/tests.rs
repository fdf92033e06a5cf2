//! Config parsing and validation: every problem names its key.

use super::*;
use std::path::Path;

/// A valid config; tests break one thing at a time. Passwords come from env vars set here.
fn base() -> String {
    std::env::set_var("MYHA_TEST_ADMIN_PW", "admin-pw");
    std::env::set_var("MYHA_TEST_REPL_PW", "repl-pw");
    r#"
[ec2]
region = "us-east-1"

[[cluster]]
name = "c1"
flavor = "mariadb"
[cluster.vip]
kind = "route-table"
address = "10.90.0.10"
route_tables = ["rtb-1"]
[cluster.admin]
user = "myha"
password_env = "MYHA_TEST_ADMIN_PW"
[cluster.replication]
user = "repl"
password_env = "MYHA_TEST_REPL_PW"
[[cluster.node]]
name = "db1"
address = "10.0.0.1"
az = "a"
[[cluster.node]]
name = "db2"
address = "10.0.0.2"
az = "b"
"#
    .to_string()
}

fn err(text: &str) -> String {
    parse(text, Path::new("t.toml")).unwrap_err().to_string()
}

#[test]
fn the_base_config_is_valid_and_defaults_apply() {
    let c = parse(&base(), Path::new("t.toml")).unwrap();
    assert_eq!(c.timing, Timing::default());
    assert_eq!(c.clusters[0].nodes[0].port, 3306);
    assert_eq!(c.clusters[0].admin.password.expose(), "admin-pw");
    assert!(c.zookeeper.is_none());
    assert_eq!(c.manager.http_listen.port(), 7480);
}

#[test]
fn secrets_never_print() {
    let c = parse(&base(), Path::new("t.toml")).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("admin-pw") && !debug.contains("repl-pw"), "{debug}");
    assert!(debug.contains("Secret(***)"));
}

#[test]
fn missing_key_is_named() {
    let e = err(&base().replace("address = \"10.0.0.2\"\n", ""));
    assert!(e.contains("missing field `address`"), "{e}");
}

#[test]
fn wrong_type_is_named() {
    let e = err(&base().replace(
        "name = \"db2\"\naddress = \"10.0.0.2\"",
        "name = \"db2\"\naddress = \"10.0.0.2\"\nport = \"3306\"",
    ));
    assert!(e.contains("invalid type") && e.contains("port"), "{e}");
}

#[test]
fn unknown_key_is_named() {
    let e = err(&base().replace("user = \"myha\"", "user = \"myha\"\npassword = \"inline\""));
    assert!(e.contains("unknown field `password`"), "{e}");
}

#[test]
fn unreadable_password_file_is_named() {
    let e = err(&base().replace(
        "password_env = \"MYHA_TEST_REPL_PW\"",
        "password_file = \"/nonexistent/repl.pw\"",
    ));
    assert!(
        e.contains("cluster.c1.replication: cannot read password file /nonexistent/repl.pw"),
        "{e}"
    );
    assert!(!e.contains("repl-pw"));
}

#[test]
fn semantic_problems_name_their_key() {
    let cases = [
        (
            "name = \"db2\"",
            "name = \"db1\"",
            "cluster.c1.node.db1: node name used twice",
        ),
        (
            "route_tables = [\"rtb-1\"]",
            "route_tables = [\"table-1\"]",
            "cluster.c1.vip.route_tables: \"table-1\" is not a route table id",
        ),
        (
            "route_tables = [\"rtb-1\"]",
            "route_tables = []",
            "cluster.c1.vip: set route_tables and/or route_table_tag",
        ),
        (
            "az = \"b\"",
            "az = \"b\"\neni = \"nic-1\"",
            "cluster.c1.node.db2.eni: \"nic-1\" is not a network interface id",
        ),
        (
            "az = \"b\"",
            "az = \"b\"\nport = 0",
            "cluster.c1.node.db2.port: must be 1 ..= 65535",
        ),
        (
            "address = \"10.90.0.10\"",
            "address = \"127.0.0.1\"",
            "cluster.c1.vip.address: 127.0.0.1 cannot be a floating IP",
        ),
        (
            "region = \"us-east-1\"",
            "region = \"us-east-1\"\nendpoint = \"localhost:5000\"",
            "ec2.endpoint: \"localhost:5000\" must start with http://",
        ),
        (
            "password_env = \"MYHA_TEST_ADMIN_PW\"",
            "password_env = \"MYHA_TEST_NOT_SET_ANYWHERE\"",
            "cluster.c1.admin: environment variable MYHA_TEST_NOT_SET_ANYWHERE is not set",
        ),
    ];
    for (from, to, want) in cases {
        let e = err(&base().replacen(from, to, 1));
        assert!(
            e.contains(want),
            "replacing {from:?} by {to:?}:\n  got: {e}\n  want: {want}"
        );
    }
}

#[test]
fn timing_and_zookeeper_are_checked() {
    let with = |extra: &str| format!("{extra}\n{}", base());
    let e = err(&with("[timing]\nprobe_interval = \"10ms\""));
    assert!(e.contains("timing.probe_interval: 10 ms is outside"), "{e}");
    let e = err(&with("[timing]\nprobe_interval = \"250ms\"\nprobe_timeout = \"5s\""));
    assert!(
        e.contains("timing.probe_timeout: 5000 ms is more than 4 × probe_interval"),
        "{e}"
    );
    let e = err(&with("[timing]\nreplica_agreement_window = \"100ms\""));
    assert!(e.contains("timing.replica_agreement_window"), "{e}");
    let e = err(&with("[timing]\nprobe_interval = \"soon\""));
    assert!(e.contains("probe_interval"), "{e}");
    let e = err(&with("[zookeeper]\nconnect = \"zk1\"\nroot = \"myha/\""));
    assert!(
        e.contains("zookeeper.connect: \"zk1\" must be host:port") && e.contains("zookeeper.root"),
        "{e}"
    );
    let zk = "[zookeeper]\nconnect = \"zk1:2181\"\nsession_timeout = \"4s\"\n";
    let e = err(&with(&format!("{zk}claim_grace = \"5s\"\nreconnect_pause = \"1ms\"")));
    assert!(
        e.contains("zookeeper.claim_grace: 5000 ms is longer than the session timeout")
            && e.contains("zookeeper.reconnect_pause: 1 ms is outside"),
        "{e}"
    );
    let e = err(&with(&format!("{zk}claim_grace = \"a while\"")));
    assert!(e.contains("claim_grace"), "{e}");
}

#[test]
fn all_no_promote_is_refused() {
    let e = err(&base()
        .replace("az = \"a\"", "az = \"a\"\nno_promote = true")
        .replace("az = \"b\"", "az = \"b\"\nno_promote = true"));
    assert!(e.contains("every node is no_promote"), "{e}");
}

#[test]
fn shipped_example_configs_parse() {
    // The lab config's password and token files only exist while the lab is up: check its
    // shape, not its secrets. The AWS example's secrets are placeholders.
    for f in ["config/lab.toml", "config/example-aws.toml"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap();
        match parse(&text, Path::new(f)) {
            Ok(_) => {}
            Err(ConfigError::Invalid { problems, .. }) => {
                for p in problems {
                    assert!(
                        p.to_lowercase().contains("password")
                            || p.contains("secret_access_key")
                            || (p.starts_with("api") && p.contains(": cannot read token file"))
                            || p.starts_with("api.tls_cert_file: /etc/myha/tls/"),
                        "{f}: {p}"
                    );
                }
            }
            Err(e) => panic!("{f}: {e}"),
        }
    }
}

#[test]
fn api_tokens_have_names_roles_and_their_own_values() {
    std::env::set_var("MYHA_TEST_TOK_A", "token-aaaaaaaaaaaaaaaa");
    std::env::set_var("MYHA_TEST_TOK_B", "token-bbbbbbbbbbbbbbbb");
    std::env::set_var("MYHA_TEST_TOK_SHORT", "short");
    let api = |body: &str| format!("[api]\nplain_http = true\n{body}\n{}", base());
    let entry = |name: &str, role: &str, env: &str| {
        format!("[[api.token]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_env = \"{env}\"\n")
    };
    let cfg = parse(
        &api(&format!(
            "token_env = \"MYHA_TEST_TOK_A\"\nopen_reads = true\n{}",
            entry("grafana", "read", "MYHA_TEST_TOK_B")
        )),
        Path::new("t.toml"),
    )
    .unwrap();
    let a = cfg.api.unwrap();
    assert!(a.open_reads);
    let got: Vec<(&str, ApiRole)> = a.tokens.iter().map(|t| (t.name.as_str(), t.role)).collect();
    assert_eq!(got, [("token", ApiRole::Admin), ("grafana", ApiRole::Read)]);
    for (body, want) in [
        (
            entry("x", "superuser", "MYHA_TEST_TOK_B"),
            "unknown variant `superuser`",
        ),
        (
            format!(
                "{}{}",
                entry("x", "read", "MYHA_TEST_TOK_A"),
                entry("x", "admin", "MYHA_TEST_TOK_B")
            ),
            "api.token[1].name: \"x\" is used by another token",
        ),
        (
            format!(
                "{}{}",
                entry("x", "read", "MYHA_TEST_TOK_A"),
                entry("y", "admin", "MYHA_TEST_TOK_A")
            ),
            "api.token[1]: the same token as \"x\"",
        ),
        (
            entry("x", "read", "MYHA_TEST_TOK_SHORT"),
            "api.token[0]: the token must be at least 16 characters",
        ),
        (entry("bad name", "read", "MYHA_TEST_TOK_A"), "api.token[0].name"),
        (String::new(), "api: no token"),
    ] {
        let e = err(&api(&body));
        assert!(e.contains(want), "{body}: {e}");
        assert!(
            !e.contains("token-aaaa") && !e.contains("short\""),
            "a token leaked: {e}"
        );
    }
}

#[test]
fn the_api_is_https_or_plain_http_by_choice() {
    std::env::set_var("MYHA_TEST_TOK_A", "token-aaaaaaaaaaaaaaaa");
    let api = |body: &str| format!("[api]\ntoken_env = \"MYHA_TEST_TOK_A\"\n{body}\n{}", base());
    for (body, want) in [
        (
            "",
            "api: set tls_cert_file and tls_key_file (HTTPS), or plain_http = true",
        ),
        ("tls_cert_file = \"/x.crt\"", "api.tls_key_file: missing"),
        ("tls_key_file = \"/x.key\"", "api.tls_cert_file: missing"),
        (
            "client_ca_file = \"/ca.crt\"\nplain_http = true",
            "api.client_ca_file: needs tls_cert_file",
        ),
        (
            "tls_cert_file = \"/x.crt\"\ntls_key_file = \"/x.key\"",
            "api.tls_cert_file: /x.crt",
        ),
        (
            "tls_cert_file = \"/x.crt\"\ntls_key_file = \"/x.key\"\nplain_http = true",
            "api.plain_http: set, but so is tls_cert_file",
        ),
    ] {
        let e = err(&api(body));
        assert!(e.contains(want), "{body}: {e}");
    }
    assert!(parse(&api("plain_http = true"), Path::new("t.toml")).is_ok());
}
