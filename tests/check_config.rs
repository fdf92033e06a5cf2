//! `myha check-config` as a user runs it: each broken file gives one clear error naming the
//! key, and exit code 64.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const GOOD: &str = r#"
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
password_file = "PWFILE"
[cluster.replication]
user = "repl"
password_file = "PWFILE"
[[cluster.node]]
name = "db1"
address = "10.0.0.1"
az = "a"
"#;

fn check(text: &str) -> (i32, String, String) {
    check_with(text, 0o600)
}

/// `myha check-config` of `text`, its password file with `mode`.
fn check_with(text: &str, mode: u32) -> (i32, String, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret-value\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(mode)).unwrap();
    let cfg = dir.path().join("myha.toml");
    std::fs::write(&cfg, text.replace("PWFILE", pw.to_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_myha"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_file_passes() {
    let (code, out, err) = check(GOOD);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cluster c1 (mariadb): 1 nodes"), "{out}");
    assert!(!out.contains("s3cret-value") && !err.contains("s3cret-value"));
}

#[test]
fn a_password_file_every_user_can_read_is_refused() {
    let (code, out, err) = check_with(GOOD, 0o644);
    assert_eq!(code, 64, "{out}{err}");
    assert!(err.contains("is readable by every user (mode 644)"), "{err}");
    assert!(!out.contains("s3cret-value") && !err.contains("s3cret-value"));
    let (code, out, err) = check_with(GOOD, 0o640);
    assert_eq!(code, 0, "group-readable (a service group) is allowed: {out}{err}");
}

#[test]
fn bad_files_exit_64_with_one_clear_error() {
    let cases = [
        (
            "missing key",
            GOOD.replace("address = \"10.0.0.1\"\n", ""),
            "missing field `address`",
        ),
        (
            "wrong type",
            GOOD.replace("az = \"a\"", "az = \"a\"\npriority = \"high\""),
            "invalid type: string \"high\", expected i32",
        ),
        (
            "unknown node key",
            GOOD.replace("az = \"a\"", "az = \"a\"\nrole = \"master\""),
            "unknown field `role`",
        ),
        (
            "unreadable password file",
            GOOD.replacen("PWFILE", "/nonexistent/pw", 1),
            "cluster.c1.admin: cannot read password file /nonexistent/pw",
        ),
        ("no such file", String::new(), "cannot read config file"),
        ("not toml", "this is [not toml".to_string(), "TOML parse error"),
    ];
    for (what, text, want) in cases {
        let (code, out, err) = if what == "no such file" {
            let out = Command::new(env!("CARGO_BIN_EXE_myha"))
                .args(["check-config", "/nonexistent/myha.toml"])
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::new(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        } else {
            check(&text)
        };
        assert_eq!(code, 64, "{what}: exit code\n{out}{err}");
        assert!(err.contains(want), "{what}:\n  got: {err}\n  want: {want}");
        // one error, not a cascade: one message, with at most one problem line under it
        assert_eq!(
            err.lines().filter(|l| l.starts_with("myha:")).count(),
            1,
            "{what}: {err}"
        );
        assert!(
            err.lines().filter(|l| l.starts_with("  cluster")).count() <= 1,
            "{what}: {err}"
        );
        assert!(out.is_empty(), "{what}: nothing on stdout for a bad file: {out}");
    }
}
