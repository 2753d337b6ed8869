//! `cordon login`, `cordon logout` and `cordon whoami`: signing in as the analyst
//! (device code), forgetting it, and saying who the profile acts as and with which
//! rights, read from the token's claims. No token is ever printed.

use std::io::IsTerminal;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::CliError;
use super::commands::Output;
use cordon_core::api::client::MdeClient;
use cordon_core::auth::principal_of;
use cordon_core::config::Profile;
use cordon_core::sanitize::clean;

/// Run the device-code flow: the URL and code go to stderr (stdout stays clean for
/// scripts), the time left is shown on a terminal, Ctrl-C (`cancel`) stops cleanly.
pub async fn login(
    client: &MdeClient,
    profile: &Profile,
    cancel: &CancellationToken,
) -> Result<Output, CliError> {
    let tty = std::io::stderr().is_terminal();
    let mut last_minute = u64::MAX;
    let signed_in = client
        .token_provider()
        .login(
            cancel,
            |prompt| {
                eprintln!("cordon: {}", clean(&prompt.message));
                eprintln!(
                    "cordon: waiting up to {} min for the sign-in (Ctrl-C cancels)",
                    prompt.expires_in.as_secs().div_ceil(60)
                );
            },
            |left| {
                let minutes = left.as_secs().div_ceil(60);
                if tty && minutes != last_minute {
                    last_minute = minutes;
                    eprintln!("cordon: {minutes} min left to sign in");
                }
            },
        )
        .await
        .map_err(|e| CliError::SignIn(e.to_string()))?;
    Ok(Output {
        stdout: format!(
            "Signed in{} for profile {}; the sign-in is kept until it expires or `cordon --profile {} logout`.\n",
            signed_in
                .username
                .as_deref()
                .map(|u| format!(" as {}", clean(u)))
                .unwrap_or_default(),
            clean(&profile.name),
            clean(&profile.name)
        ),
        exit_code: 0,
    })
}

pub async fn logout(client: &MdeClient, profile: &Profile) -> Result<Output, CliError> {
    let had = client
        .token_provider()
        .logout()
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(Output {
        stdout: if had {
            format!("Signed out of profile {}.\n", clean(&profile.name))
        } else {
            format!("Profile {} had no stored sign-in.\n", clean(&profile.name))
        },
        exit_code: 0,
    })
}

/// Who the profile acts as, from the token's claims; says plainly when the right to
/// isolate is missing (exit 1 then, so a script can check before an incident).
pub async fn whoami(
    client: &MdeClient,
    profile: &Profile,
    json_out: bool,
) -> Result<Output, CliError> {
    let claims = client
        .token_provider()
        .claims()
        .await
        .map_err(|e| CliError::SignIn(e.to_string()))?
        .unwrap_or_default();
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .map(|s| clean(s).into_owned())
    };
    let principal = principal_of(&claims).unwrap_or_else(|| "unknown (the token is opaque)".into());
    let delegated = claims.get("scp").is_some();
    let mut rights: Vec<String> = claims
        .get("roles")
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str())
                .map(|s| clean(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(scp) = text("scp") {
        rights.extend(scp.split_whitespace().map(str::to_string));
    }
    let can_isolate = rights.iter().any(|r| r == "Machine.Isolate");
    let expires = claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let tenant = text("tid").unwrap_or_else(|| profile.tenant_id.clone());
    let exit_code = if can_isolate || rights.is_empty() {
        0
    } else {
        1
    };
    let stdout = if json_out {
        let mut s = json!({
            "profile": profile.name,
            "principal": principal,
            "kind": if delegated { "user" } else { "app" },
            "tenant": tenant,
            "method": profile.auth.name(),
            "expires": expires,
            "rights": rights,
            "canIsolate": can_isolate,
        })
        .to_string();
        s.push('\n');
        s
    } else {
        let mut s = format!(
            "profile   {}\nsigned in {} ({})\ntenant    {}\nmethod    {}\nexpires   {}\nrights    {}\n",
            clean(&profile.name),
            principal,
            if delegated {
                "as a user, delegated"
            } else {
                "as the app"
            },
            tenant,
            profile.auth.name(),
            expires.as_deref().unwrap_or("unknown"),
            if rights.is_empty() {
                "unknown (the token names none)".to_string()
            } else {
                rights.join(", ")
            }
        );
        if !can_isolate && !rights.is_empty() {
            s.push_str(if delegated {
                "Machine.Isolate is missing: grant the app the delegated WindowsDefenderATP Machine.Isolate permission, and give the user a Defender role with 'Active remediation actions'.\n"
            } else {
                "Machine.Isolate is missing: grant the app the WindowsDefenderATP application permission Machine.Isolate, with admin consent.\n"
            });
        }
        s
    };
    Ok(Output { stdout, exit_code })
}
