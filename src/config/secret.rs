//! Passwords are configured by reference (`password_env` / `password_file`) and held in a
//! type that never prints its content: not in logs, not in `Debug`, not in API output.

use std::fmt;

/// A resolved secret. `Debug` prints `***`; there is no `Display` and no `Serialize`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one call that needs it (a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from: exactly one of an environment variable or a file.
#[derive(Debug, Clone, Copy)]
pub struct SecretRef<'a> {
    /// Name of an environment variable holding the secret.
    pub env: Option<&'a str>,
    /// Path of a file holding the secret (one trailing newline is ignored).
    pub file: Option<&'a str>,
    /// The two key names, for messages (`password_env` / `password_file`).
    pub keys: (&'static str, &'static str),
}

impl SecretRef<'_> {
    /// Read the secret. The error says which source failed and why, never the value.
    pub fn resolve(&self) -> Result<Secret, String> {
        let (env_key, file_key) = self.keys;
        match (self.env, self.file) {
            (Some(_), Some(_)) => Err(format!("set only one of {env_key} and {file_key}")),
            (None, None) => Err(format!("missing {env_key} or {file_key}")),
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!("environment variable {var} is not set")),
            },
            (None, Some(path)) => match world_readable(path) {
                Some(mode) => Err(format!(
                    "{} {path} is readable by every user (mode {mode:o}): chmod o-r it (0600 or 0640)",
                    file_key.replace('_', " ")
                )),
                None => read(path, file_key),
            },
        }
    }
}

/// The file's mode when others may read it: a secret any local user can read is not one.
fn world_readable(path: &str) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then_some(mode)
}

fn read(path: &str, file_key: &str) -> Result<Secret, String> {
    let what = file_key.replace('_', " ");
    match std::fs::read_to_string(path) {
        Ok(v) => {
            let v = v.strip_suffix('\n').unwrap_or(&v);
            let v = v.strip_suffix('\r').unwrap_or(v);
            if v.is_empty() {
                Err(format!("{what} {path} is empty"))
            } else {
                Ok(Secret(v.to_string()))
            }
        }
        Err(e) => Err(format!("cannot read {what} {path}: {e}")),
    }
}
