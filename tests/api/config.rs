//! Config loading: valid files, every refused shape, profile selection, the env profile.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cordon_core::config::{self, Auth, Cloud, ConfigError, SecretSource};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn load_err(name: &str, profile: Option<&str>) -> String {
    match config::load_with(Some(&fixture(name)), profile, &no_env) {
        Ok(s) => panic!("{name} loaded but should not: {:?}", s.profile.name),
        Err(e) => e.to_string(),
    }
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let msg = load_err("syntax_error.toml", None);
    assert!(msg.contains("syntax_error.toml:5:"), "{msg}");
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let msg = load_err("unknown_key.toml", None);
    assert!(msg.contains("readonlyy"), "{msg}");
}

#[test]
fn a_literal_secret_is_refused_naming_both_alternatives() {
    let msg = load_err("literal_secret.toml", None);
    assert!(msg.contains("client_secret_env"), "{msg}");
    assert!(msg.contains("client_secret_command"), "{msg}");
    assert!(
        !msg.contains("hunter2"),
        "the secret must not be echoed: {msg}"
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let msg = load_err("http_remote.toml", None);
    assert!(msg.contains("http") && msg.contains("api_base"), "{msg}");
}

#[test]
fn unknown_profile_lists_the_known_ones() {
    let msg = load_err("two_profiles.toml", Some("staging"));
    assert!(
        msg.contains("staging") && msg.contains("prod") && msg.contains("test"),
        "{msg}"
    );
}

#[test]
fn unknown_cloud_lists_the_valid_ones() {
    let msg = load_err("bad_cloud.toml", None);
    assert!(
        msg.contains("azure-china") && msg.contains("gcc-high"),
        "{msg}"
    );
}

#[test]
fn two_secret_sources_and_bad_colours_are_refused() {
    assert!(load_err("both_secrets.toml", None).contains("keep one"));
    assert!(load_err("bad_color.toml", None).contains("reddish"));
}

#[test]
fn default_profile_and_explicit_choice() {
    let s = config::load_with(Some(&fixture("two_profiles.toml")), None, &no_env).unwrap();
    assert_eq!(s.profile.name, "prod");
    assert_eq!(s.profile.color.as_deref(), Some("red"));
    assert!(matches!(&s.profile.auth, Auth::ClientSecret(SecretSource::Env(v)) if v == "P"));

    // CORDON_PROFILE picks when --profile is absent; --profile wins over it.
    let env = env_of(&[("CORDON_PROFILE", "test")]);
    let s = config::load_with(Some(&fixture("two_profiles.toml")), None, &env).unwrap();
    assert_eq!(s.profile.name, "test");
    let s = config::load_with(Some(&fixture("two_profiles.toml")), Some("prod"), &env).unwrap();
    assert_eq!(s.profile.name, "prod");
}

#[test]
fn overrides_keep_the_clouds_scope_and_authority() {
    let s = config::load_with(Some(&fixture("two_profiles.toml")), Some("test"), &no_env).unwrap();
    let p = s.profile;
    assert_eq!(p.cloud, Cloud::GccHigh);
    assert!(p.readonly);
    assert_eq!(
        p.api_base, "http://127.0.0.1:9000",
        "trailing slash trimmed; loopback http allowed"
    );
    assert_eq!(p.authority, "https://login.microsoftonline.us");
    assert_eq!(
        p.scope,
        "https://api-gov.securitycenter.microsoft.us/.default"
    );
    assert_eq!(
        p.token_url(),
        "https://login.microsoftonline.us/t2/oauth2/v2.0/token"
    );
}

#[test]
fn cloud_presets_differ_where_the_docs_say() {
    assert_eq!(
        Cloud::Gcc.preset().authority,
        "https://login.microsoftonline.com"
    );
    assert_eq!(
        Cloud::Gcc.preset().api_base,
        "https://api-gcc.securitycenter.microsoft.us"
    );
    assert_eq!(
        Cloud::Dod.preset().authority,
        "https://login.microsoftonline.us"
    );
    assert_eq!(
        Cloud::Commercial.preset().scope,
        "https://api.securitycenter.microsoft.com/.default"
    );
}

#[test]
fn config_example_loads_and_every_profile_resolves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    for name in ["prod-eu", "gov-readonly", "sim"] {
        let s = config::load_with(Some(&path), Some(name), &no_env)
            .unwrap_or_else(|e| panic!("profile {name}: {e}"));
        assert_eq!(s.profile.name, name);
    }
    let s = config::load_with(Some(&path), None, &no_env).unwrap();
    assert_eq!(s.profile.name, "prod-eu");
    assert_eq!(s.profile.api_base, "https://eu.api.security.microsoft.com");
    assert_eq!(
        s.profile.scope,
        "https://api.securitycenter.microsoft.com/.default"
    );
    assert_eq!(s.keys.get("isolate"), Some(&vec!["i".to_string()]));
}

#[test]
fn without_a_config_file_the_env_profile_comes_from_azure_variables() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let env = env_of(&[
        ("CORDON_CONFIG", ""),
        ("AZURE_TENANT_ID", "tenant-x"),
        ("AZURE_CLIENT_ID", "client-y"),
        ("AZURE_CLIENT_SECRET", "s3cret-value"),
    ]);
    // Through the default path (no --config): the platform file does not exist.
    let home_env = |k: &str| if k == "CORDON_CONFIG" { None } else { env(k) };
    let path = config::config_path(None, &home_env);
    if !path.exists() {
        let s = config::load_with(None, None, &home_env).unwrap();
        assert_eq!(s.profile.name, "env");
        assert_eq!(s.profile.tenant_id, "tenant-x");
        assert!(
            !format!("{:?}", s.profile).contains("s3cret-value"),
            "Debug redacts the secret"
        );
    }
    // An explicit --config that does not exist is an error, not a silent fallback.
    let err = config::load_with(Some(&missing), None, &env).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn no_config_and_no_variables_says_what_to_do() {
    let env = |_: &str| None;
    let path = config::config_path(None, &env);
    if path.exists() {
        return; // a developer's real config; nothing to assert here
    }
    let msg = config::load_with(None, None, &env).unwrap_err().to_string();
    assert!(
        msg.contains("AZURE_TENANT_ID") && msg.contains("--demo"),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn a_world_readable_config_naming_a_secret_command_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[profiles.a]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_command = [\"pass\", \"show\", \"x\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = config::load_with(Some(&path), None, &no_env).unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("chmod 600"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = config::load_with(Some(&path), None, &no_env).unwrap();
    assert!(s.warnings.is_empty());
}

#[test]
fn a_tenant_id_that_could_change_the_token_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for bad in ["../evil", "t/x", "t?x=1", "a b"] {
        std::fs::write(
            &path,
            format!("[profiles.a]\ntenant_id = \"{bad}\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n"),
        )
        .unwrap();
        let err = config::load_with(Some(&path), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tenant_id"), "{bad}: {err}");
    }
}

/// As ssh does: a config that group or others can write is refused for every secret
/// source (rewriting `authority` would capture an environment secret as well).
#[cfg(unix)]
#[test]
fn a_config_others_can_write_is_refused_whatever_the_secret_source() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for source in [
        "client_secret_command = [\"pass\", \"show\", \"x\"]",
        "client_secret_env = \"MDE_SECRET\"",
    ] {
        std::fs::write(
            &path,
            format!("[profiles.a]\ntenant_id = \"t\"\nclient_id = \"c\"\n{source}\n"),
        )
        .unwrap();
        for mode in [0o664, 0o646, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = config::load_with(Some(&path), None, &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("mode {mode:04o}")), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(config::load_with(Some(&path), None, &no_env).is_ok());
    }
}

/// The core checks profile colours without the UI's crate; every value it accepts must
/// draw in the console, and what it refuses must not parse there either.
#[test]
fn colours_accepted_by_the_config_parse_in_the_console() {
    use ratatui::style::Color;
    for value in [
        "red",
        "Light Blue",
        "bright-green",
        "grey",
        "DarkGray",
        "reset",
        "#b00020",
        "17",
        "white",
        "silver",
        "light_magenta",
    ] {
        assert!(cordon_core::config::is_colour(value), "{value}");
        assert!(value.parse::<Color>().is_ok(), "{value}");
    }
    for value in ["reddish", "#b0002", "#gg0000", "256", ""] {
        assert!(!cordon_core::config::is_colour(value), "{value}");
        assert!(value.parse::<Color>().is_err(), "{value}");
    }
}

/// Credentials in any URL are refused as a config error, and never echoed: they would go
/// as HTTP Basic auth, and into logs.
#[test]
fn a_user_name_or_password_in_any_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    for (key, url) in [
        ("authority", "http://alice:hunter2@127.0.0.1:9"),
        ("api_base", "https://alice@api.securitycenter.microsoft.com"),
    ] {
        std::fs::write(
            &path,
            format!(
                "[profiles.a]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n{key} = \"{url}\"\n"
            ),
        )
        .unwrap();
        let err = config::load_with(Some(&path), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains("user name or password"),
            "{err}"
        );
        assert!(!err.contains("hunter2") && !err.contains("alice"), "{err}");
    }
}

/// Issues 12 and 13: the new profile keys, and their mistakes named.
#[test]
fn auth_methods_comment_patterns_and_protection_load_or_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let load = |body: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "protected_tags = [\"domain-controller\"]\n[profiles.p]\ntenant_id = \"t\"\n{body}\n"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        config::load_with(Some(&path), None, &no_env).map_err(|e| e.to_string())
    };
    let s = load(
        "client_id = \"c\"\nauth = \"device-code\"\nprotected = true\ncomment_pattern = '^IR-\\d+'",
    )
    .unwrap();
    assert!(matches!(s.profile.auth, Auth::DeviceCode));
    assert!(s.profile.protected);
    assert_eq!(s.profile.protected_tags, ["domain-controller"]);
    assert!(s.profile.comment_rule.parse("IR-12 x").is_ok());
    assert!(s.profile.comment_rule.parse("x").is_err());
    // The Azure CLI and a managed identity need no client id.
    assert!(load("auth = \"azure-cli\"").is_ok());
    assert!(load("auth = \"managed-identity\"\nmanaged_identity_client_id = \"m\"").is_ok());
    for (body, says) in [
        ("client_id = \"c\"", "no sign-in method"),
        (
            "client_id = \"c\"\nauth = \"kerberos\"",
            "auth 'kerberos' is not one of",
        ),
        (
            "client_id = \"c\"\nauth = \"certificate\"",
            "needs certificate_file",
        ),
        ("auth = \"device-code\"", "client_id is missing"),
        (
            "client_id = \"c\"\nauth = \"azure-cli\"\nclient_secret_env = \"X\"",
            "client_secret_env does not apply",
        ),
        (
            "client_id = \"c\"\nclient_secret_env = \"X\"\ncomment_pattern = '('",
            "comment_pattern is not a valid regex",
        ),
        (
            "client_id = \"c\"\nclient_secret_env = \"X\"\nproxy = \"ftp://p\"",
            "proxy must be",
        ),
    ] {
        let err = load(body).unwrap_err();
        assert!(err.contains(says), "{body}: {err}");
    }
}

#[test]
fn ui_columns_are_checked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let write = |columns: &str| {
        std::fs::write(
            &path,
            format!(
                "[ui]\ncolumns = {columns}\n[profiles.p]\ntenant_id = \"t\"\nauth = \"azure-cli\"\n"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        config::load_with(Some(&path), None, &no_env)
    };
    let ok = write(r#"["name", "isolation", "last_seen"]"#).unwrap();
    assert_eq!(ok.ui.columns.unwrap().len(), 3);
    let err = write(r#"["name", "colour"]"#).unwrap_err().to_string();
    assert!(err.contains("ui.columns names 'colour'"), "{err}");
}
