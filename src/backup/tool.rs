//! The physical backup tools behind one interface: mariabackup for MariaDB, xtrabackup for
//! MySQL — their command lines for backup, prepare and restore, and how to tell from their
//! output whether they worked. Credentials never go on a command line (`ps` shows it to every
//! user): they are written to a 0600 defaults file the tool reads first.

use crate::model::Flavor;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A tool run that did not work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The program is not installed (or not executable).
    #[error("{program} cannot be started: {why} (install the {package} package)")]
    Missing {
        /// the program
        program: &'static str,
        /// the Debian package that has it
        package: &'static str,
        /// why
        why: String,
    },
    /// It ran and failed.
    #[error("{program} {step} failed: {why}")]
    Failed {
        /// the program
        program: &'static str,
        /// backup, prepare or move-back
        step: &'static str,
        /// the tool's own error line
        why: String,
    },
    /// It took longer than allowed and was killed.
    #[error("{program} {step} did not finish within {limit:?}: killed")]
    Timeout {
        /// the program
        program: &'static str,
        /// the step
        step: &'static str,
        /// the limit
        limit: Duration,
    },
}

/// The backup tool of a flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// MariaDB's fork of xtrabackup.
    Mariabackup,
    /// Percona XtraBackup, for MySQL 8.
    Xtrabackup,
}

fn arg(flag: &str, p: &Path) -> OsString {
    let mut s = OsString::from(flag);
    s.push(p.as_os_str());
    s
}

/// A `[client]` option-file section with the tool's login (the value quoted for the
/// option-file parser: backslashes and double quotes escaped).
pub fn client_options(user: &str, password: &str, host: &str, port: u16) -> String {
    let q = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
    format!(
        "[client]\nuser={}\npassword={}\nhost={}\nport={port}\n",
        q(user),
        q(password),
        q(host)
    )
}

impl Tool {
    /// The tool for a cluster's flavor.
    pub fn for_flavor(f: Flavor) -> Tool {
        match f {
            Flavor::MariaDb => Tool::Mariabackup,
            Flavor::MySql => Tool::Xtrabackup,
        }
    }

    /// The program to run.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Mariabackup => "mariabackup",
            Tool::Xtrabackup => "xtrabackup",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Tool::Mariabackup => "mariadb-backup",
            Tool::Xtrabackup => "percona-xtrabackup-80",
        }
    }

    /// Take a backup of the server whose datadir is `datadir` into `target`, logging in with
    /// the options in `defaults` (which must be the first argument), with the replica's
    /// position (`--slave-info`) as well as the binlog's.
    pub fn backup_args(self, defaults: &Path, datadir: &Path, target: &Path) -> Vec<OsString> {
        vec![
            arg("--defaults-extra-file=", defaults),
            "--backup".into(),
            "--slave-info".into(),
            arg("--datadir=", datadir),
            arg("--target-dir=", target),
        ]
    }

    /// Make a taken backup consistent (apply its redo log).
    pub fn prepare_args(self, target: &Path) -> Vec<OsString> {
        vec!["--prepare".into(), arg("--target-dir=", target)]
    }

    /// Move a prepared backup into an empty datadir (the backup directory is consumed: one
    /// copy of the data less than `--copy-back`, which a bootstrap's staged download can spare).
    pub fn move_back_args(self, target: &Path, datadir: &Path) -> Vec<OsString> {
        vec![
            "--move-back".into(),
            arg("--target-dir=", target),
            arg("--datadir=", datadir),
        ]
    }

    /// Did a run work? Both tools end a successful run with `completed OK!`; otherwise the
    /// most telling line is their last error (or, failing that, their last line).
    pub fn outcome(self, step: &'static str, exited_ok: bool, stderr: &str) -> Result<(), ToolError> {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        if exited_ok && last.contains("completed OK!") {
            return Ok(());
        }
        let error = stderr
            .lines()
            .rev()
            .find(|l| l.contains("[ERROR]") || l.contains("Failed") || l.contains("failed") || l.contains("Error"))
            .unwrap_or(if last.is_empty() { "no output" } else { last });
        Err(ToolError::Failed {
            program: self.program(),
            step,
            why: strip_prefix(error).to_string(),
        })
    }

    /// Run `args` within `limit`; the child is killed when the limit runs out.
    pub async fn run(self, step: &'static str, args: &[OsString], limit: Duration) -> Result<(), ToolError> {
        let mut child = tokio::process::Command::new(self.program())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ToolError::Missing {
                program: self.program(),
                package: self.package(),
                why: e.to_string(),
            })?;
        let mut stderr = child.stderr.take();
        let work = async {
            let mut text = String::new();
            if let Some(s) = stderr.as_mut() {
                let mut bytes = Vec::new();
                let _ = s.read_to_end(&mut bytes).await;
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            (child.wait().await, text)
        };
        match tokio::time::timeout(limit, work).await {
            Err(_) => Err(ToolError::Timeout {
                program: self.program(),
                step,
                limit,
            }),
            Ok((Err(e), _)) => Err(ToolError::Failed {
                program: self.program(),
                step,
                why: e.to_string(),
            }),
            Ok((Ok(status), text)) => self.outcome(step, status.success(), &text),
        }
    }
}

/// Drop the thread / timestamp prefix of a tool's log line (`[00] 2026-11-22 12:32:37 …`,
/// `… [Xtrabackup] …`).
fn strip_prefix(line: &str) -> &str {
    let mut rest = line.trim();
    if let Some(i) = rest.rfind("[Xtrabackup] ") {
        return rest[i + "[Xtrabackup] ".len()..].trim();
    }
    if rest.starts_with('[') {
        if let Some(i) = rest.find("] ") {
            rest = &rest[i + 2..];
        }
    }
    // `YYYY-MM-DD HH:MM:SS `
    let b = rest.as_bytes();
    let stamp = b.len() > 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if stamp {
        rest = &rest[20..];
    }
    rest.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/src/backup/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn the_login_goes_in_a_defaults_file_first_never_on_the_command_line() {
        for t in [Tool::Mariabackup, Tool::Xtrabackup] {
            let args = t.backup_args(
                Path::new("/run/x/my.cnf"),
                Path::new("/var/lib/mysql"),
                Path::new("/b/1"),
            );
            assert_eq!(args[0], "--defaults-extra-file=/run/x/my.cnf");
            assert!(args.iter().all(|a| !a.to_string_lossy().contains("password")));
            assert!(args.contains(&OsString::from("--slave-info")));
        }
        let o = client_options("myha", "p\"w\\d", "10.0.0.1", 3306);
        assert!(o.contains("password=\"p\\\"w\\\\d\""), "{o}");
        assert_eq!(Tool::for_flavor(Flavor::MySql).program(), "xtrabackup");
    }

    #[test]
    fn outcomes_from_recorded_mariabackup_runs() {
        let t = Tool::Mariabackup;
        assert_eq!(
            t.outcome("backup", true, &fixture("mariabackup-10.11-backup.stderr")),
            Ok(())
        );
        let e = t
            .outcome("backup", false, &fixture("mariabackup-10.11-failed.stderr"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "mariabackup backup failed: Failed to connect to MariaDB server: Access denied for user 'myha'@'10.88.2.12' (using password: YES)."
        );
        // exit 0 without "completed OK!" is not a backup
        assert!(t.outcome("backup", true, "[00] copying ./ibdata1\n").is_err());
    }

    #[test]
    fn outcomes_from_xtrabackup_output() {
        let t = Tool::Xtrabackup;
        assert_eq!(
            t.outcome("backup", true, &fixture("xtrabackup-8.0-backup.stderr")),
            Ok(())
        );
        let e = t
            .outcome("backup", false, &fixture("xtrabackup-8.0-failed.stderr"))
            .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "Failed to connect to MySQL server: Access denied for user 'myha'@'localhost' (using password: YES)."
            ),
            "{e}"
        );
    }
}
