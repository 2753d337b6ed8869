//! Resolve a profile's client secret. Resolution happens at every token request, so a
//! rotated environment variable or password-store entry is picked up without restart.

use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use secrecy::zeroize::Zeroizing;

use super::AuthError;
use crate::config::SecretSource;

/// How long a secret command (e.g. `pass show mde/prod`) may run.
pub const SECRET_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The client secret named by `src`. Errors name the variable or the command's
/// program, never the secret or the command's output.
pub async fn resolve_secret(src: &SecretSource) -> Result<SecretString, AuthError> {
    resolve_secret_with_timeout(src, SECRET_COMMAND_TIMEOUT).await
}

/// [`resolve_secret`] with a chosen command timeout.
pub async fn resolve_secret_with_timeout(
    src: &SecretSource,
    timeout: Duration,
) -> Result<SecretString, AuthError> {
    match src {
        SecretSource::Value(secret) => Ok(secret.clone()),
        SecretSource::Env(var) => from_env(var),
        SecretSource::Command(argv) => from_command(argv, timeout).await,
    }
}

fn from_env(var: &str) -> Result<SecretString, AuthError> {
    match std::env::var(var) {
        Ok(value) => {
            let value = Zeroizing::new(value);
            if value.trim().is_empty() {
                Err(AuthError::SecretEnvMissing {
                    var: var.to_string(),
                })
            } else {
                Ok(SecretString::from(value.trim().to_string()))
            }
        }
        Err(std::env::VarError::NotPresent) => Err(AuthError::SecretEnvMissing {
            var: var.to_string(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(AuthError::SecretEnvNotUnicode {
            var: var.to_string(),
        }),
    }
}

async fn from_command(argv: &[String], timeout: Duration) -> Result<SecretString, AuthError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(AuthError::SecretCommandEmpty);
    };
    if program.trim().is_empty() {
        return Err(AuthError::SecretCommandEmpty);
    }
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // stderr may echo the secret or scribble over the TUI: drop it.
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AuthError::SecretCommandSpawn {
            program: program.clone(),
            reason: spawn_reason(&e),
        })?;

    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(AuthError::SecretCommandSpawn {
                program: program.clone(),
                reason: spawn_reason(&e),
            });
        }
        // Dropping the future drops the child, which kill_on_drop terminates.
        Err(_) => {
            return Err(AuthError::SecretCommandTimeout {
                program: program.clone(),
                seconds: timeout.as_secs().max(1),
            });
        }
    };
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(AuthError::SecretCommandFailed {
            program: program.clone(),
            status: exit_description(&output.status),
        });
    }
    match std::str::from_utf8(&stdout) {
        Ok(text) if !text.trim().is_empty() => Ok(SecretString::from(text.trim().to_string())),
        _ => Err(AuthError::SecretCommandNoOutput {
            program: program.clone(),
        }),
    }
}

fn spawn_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn exit_description(status: &std::process::ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("status {code}"),
        None => "a signal".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn value_is_returned_as_is() {
        use secrecy::ExposeSecret;
        let src = SecretSource::Value(SecretString::from("abc"));
        let secret = resolve_secret(&src).await.expect("value");
        assert_eq!(secret.expose_secret(), "abc");
    }

    #[tokio::test]
    async fn empty_argv_is_refused() {
        let err = resolve_secret(&SecretSource::Command(vec![]))
            .await
            .expect_err("must fail");
        assert_eq!(err, AuthError::SecretCommandEmpty);
    }
}
