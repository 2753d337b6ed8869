//! The config file and profile selection.
//!
//! The file DTOs (serde, `deny_unknown_fields`) are kept apart from the runtime types
//! (`Profile`, `UiSettings`): everything is validated at load, so a typo in security
//! config is an error naming the key, never a silent default.

pub mod profile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

pub use profile::{AUTH_METHODS, Auth, Cloud, Profile, SecretSource};

/// Settings that shape the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    /// Machine list auto-refresh; 0 turns it off.
    pub refresh_interval_secs: u32,
    /// Action status polling.
    pub poll_interval_secs: u32,
    /// How long one write keeps reconciling and retrying after ambiguous answers
    /// before it is reported NotConfirmed.
    pub write_deadline_secs: u32,
    /// The console takes mouse clicks and the wheel (`--no-mouse` turns it off).
    pub mouse: bool,
    /// The machine list's columns, when chosen (`[ui] columns`): names from
    /// `LIST_COLUMNS`; the machine's name always shows.
    pub columns: Option<Vec<String>>,
}

/// The columns `[ui] columns` may name.
pub const LIST_COLUMNS: [&str; 7] = [
    "name",
    "os",
    "health",
    "risk",
    "exposure",
    "isolation",
    "last_seen",
];

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            refresh_interval_secs: 60,
            poll_interval_secs: 3,
            write_deadline_secs: 120,
            mouse: true,
            columns: None,
        }
    }
}

/// Everything loaded: the chosen profile and the shared settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    pub ui: UiSettings,
    /// `[keys]` as written: action name → keys. The console's keymap validates them.
    pub keys: BTreeMap<String, Vec<String>>,
    /// None when the `env` profile was built from AZURE_* variables.
    pub config_path: Option<PathBuf>,
    /// Things worth telling the user that do not stop cordon.
    pub warnings: Vec<String>,
    /// Every profile the file defines (the console's `:profile` offers them).
    pub profile_names: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}; fix the file and try again")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: profile '{profile}' has a literal client_secret, which cordon refuses: name an environment variable with client_secret_env = \"VAR\", or a command with client_secret_command = [\"pass\", \"show\", \"mde/prod\"]"
    )]
    LiteralSecret { path: PathBuf, profile: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path} is writable by other users (mode {mode:04o}): anyone who can change it can point the sign-in at their own server and take the secret; run chmod 600 {path}"
    )]
    WritableByOthers { path: PathBuf, mode: u32 },
    #[error("unknown profile '{name}'; the config defines: {known}")]
    UnknownProfile { name: String, known: String },
    #[error(
        "no profile chosen: pass --profile NAME (or set CORDON_PROFILE), or set default_profile in {path}; the config defines: {known}"
    )]
    NoProfileChosen { path: PathBuf, known: String },
    #[error(
        "no config file at {path}: create it (see config.example.toml), point --config or CORDON_CONFIG at one, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; or try `cordon --demo`"
    )]
    NoConfig { path: PathBuf },
}

// ---- file DTOs -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    default_profile: Option<String>,
    /// Machines with any of these tags are protected in every profile.
    #[serde(default)]
    protected_tags: Vec<String>,
    #[serde(default)]
    ui: UiDto,
    #[serde(default)]
    keys: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileDto>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UiDto {
    refresh_interval_secs: Option<u32>,
    poll_interval_secs: Option<u32>,
    write_deadline_secs: Option<u32>,
    mouse: Option<bool>,
    columns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDto {
    tenant_id: String,
    client_id: Option<String>,
    auth: Option<String>,
    client_secret_env: Option<String>,
    client_secret_command: Option<Vec<String>>,
    certificate_file: Option<PathBuf>,
    certificate_password_env: Option<String>,
    managed_identity_client_id: Option<String>,
    federated_token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    cloud: Option<String>,
    api_base: Option<String>,
    authority: Option<String>,
    scope: Option<String>,
    #[serde(default)]
    readonly: bool,
    /// Every write asks for the profile name (or a bulk's size) to be typed.
    #[serde(default)]
    protected: bool,
    /// A regex every comment must match, e.g. a ticket id.
    comment_pattern: Option<String>,
    /// What the console's comment box starts with, e.g. "{ticket} {reason}".
    comment_template: Option<String>,
    color: Option<String>,
}

// ---- paths -------------------------------------------------------------------------

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "cordon")
}

/// The config file: `--config`, else CORDON_CONFIG, else the platform default.
pub fn config_path(cli: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    if let Some(p) = env("CORDON_CONFIG").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("cordon.toml"))
}

/// Where cordon writes its audit and debug logs: CORDON_DATA_DIR, else the platform
/// data dir (`~/.local/share/cordon` on Linux).
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CORDON_DATA_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".cordon"))
}

pub fn audit_log_path() -> PathBuf {
    data_dir().join("audit.jsonl")
}

/// The demo's own audit log: simulated writes never mix with a tenant's real record.
pub fn demo_audit_log_path() -> PathBuf {
    data_dir().join("demo-audit.jsonl")
}

pub fn log_path() -> PathBuf {
    data_dir().join("cordon.log")
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

// ---- loading -----------------------------------------------------------------------

/// Load the config and pick a profile, reading the process environment.
pub fn load(config: Option<&Path>, profile: Option<&str>) -> Result<Settings, ConfigError> {
    load_with(config, profile, &process_env)
}

/// As `load`, with the environment injected (tests never mutate the process env).
pub fn load_with(
    config: Option<&Path>,
    profile: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let path = config_path(config, env);
    let wanted = profile
        .map(str::to_string)
        .or_else(|| env("CORDON_PROFILE").filter(|s| !s.is_empty()));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        // No file at all (and none was asked for explicitly): the Azure SDK convention.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && config.is_none()
                && env("CORDON_CONFIG").is_none() =>
        {
            return env_profile(&path, wanted.as_deref(), env);
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    // As ssh does: a config others can write is refused, whatever the secret source
    // (rewriting `authority` or `api_base` captures an env secret just as well).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(ConfigError::WritableByOthers { path, mode });
            }
        }
    }
    let mut settings = parse(&path, &text, wanted.as_deref())?;
    if let Some(w) = permission_warning(&path, &settings.profile) {
        settings.warnings.push(w);
    }
    Ok(settings)
}

/// Parse and validate a config file's text, then select a profile.
pub fn parse(path: &Path, text: &str, wanted: Option<&str>) -> Result<Settings, ConfigError> {
    let syntax = |e: toml::de::Error| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    };
    // A literal secret gets its own message, before the generic unknown-key error.
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    if let Some(toml::Value::Table(profiles)) = table.get("profiles") {
        for (name, p) in profiles {
            if p.get("client_secret").is_some() {
                return Err(ConfigError::LiteralSecret {
                    path: path.to_path_buf(),
                    profile: name.clone(),
                });
            }
        }
    }
    let file: FileDto = toml::from_str(text).map_err(syntax)?;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };

    let ui = UiSettings {
        refresh_interval_secs: file.ui.refresh_interval_secs.unwrap_or(60),
        poll_interval_secs: file.ui.poll_interval_secs.unwrap_or(3),
        write_deadline_secs: file.ui.write_deadline_secs.unwrap_or(120),
        mouse: file.ui.mouse.unwrap_or(true),
        columns: file.ui.columns.clone(),
    };
    if !(10..=3600).contains(&ui.write_deadline_secs) {
        return Err(invalid(format!(
            "ui.write_deadline_secs is {}; use a value from 10 to 3600",
            ui.write_deadline_secs
        )));
    }
    if ui.poll_interval_secs == 0 || ui.poll_interval_secs > 300 {
        return Err(invalid(format!(
            "ui.poll_interval_secs is {}; use a value from 1 to 300",
            ui.poll_interval_secs
        )));
    }
    if let Some(unknown) = ui.columns.iter().flatten().find(|c| {
        !LIST_COLUMNS.contains(&c.trim().to_lowercase().replace([' ', '-'], "_").as_str())
    }) {
        return Err(invalid(format!(
            "ui.columns names '{}', which is not one of: {}",
            crate::sanitize::clean(unknown),
            LIST_COLUMNS.join(", ")
        )));
    }
    if ui.refresh_interval_secs != 0 && ui.refresh_interval_secs < 5 {
        return Err(invalid(format!(
            "ui.refresh_interval_secs is {}; use 0 (off) or at least 5",
            ui.refresh_interval_secs
        )));
    }
    let keys = file
        .keys
        .into_iter()
        .map(|(k, v)| {
            let keys = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            (k, keys)
        })
        .collect();

    let known = || file.profiles.keys().cloned().collect::<Vec<_>>().join(", ");
    if let Some(d) = &file.default_profile
        && !file.profiles.contains_key(d)
    {
        return Err(invalid(format!(
            "default_profile is '{d}', but no [profiles.{d}] exists; the config defines: {}",
            known()
        )));
    }
    let name = match wanted.map(str::to_string).or(file.default_profile.clone()) {
        Some(n) => n,
        None if file.profiles.len() == 1 => {
            file.profiles.keys().next().cloned().unwrap_or_default()
        }
        None => {
            return Err(ConfigError::NoProfileChosen {
                path: path.to_path_buf(),
                known: known(),
            });
        }
    };
    // Validate every profile, not just the chosen one: a broken production profile
    // should not wait until the incident to be noticed.
    let mut chosen = None;
    for (pname, dto) in &file.profiles {
        let mut p =
            resolve_profile(pname, dto).map_err(|m| invalid(format!("profile '{pname}': {m}")))?;
        p.protected_tags.clone_from(&file.protected_tags);
        if *pname == name {
            chosen = Some(p);
        }
    }
    let profile = chosen.ok_or_else(|| ConfigError::UnknownProfile {
        name: name.clone(),
        known: if file.profiles.is_empty() {
            "(no profiles)".to_string()
        } else {
            known()
        },
    })?;
    Ok(Settings {
        profile,
        ui,
        keys,
        config_path: Some(path.to_path_buf()),
        warnings: Vec::new(),
        profile_names: file.profiles.keys().cloned().collect(),
    })
}

fn resolve_profile(name: &str, dto: &ProfileDto) -> Result<Profile, String> {
    if dto.tenant_id.trim().is_empty() {
        return Err("tenant_id is empty; set it to the tenant's GUID or domain".into());
    }
    // It becomes a path segment of the token URL: only GUID and domain characters.
    if !dto
        .tenant_id
        .trim()
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || dto.tenant_id.contains("..")
    {
        return Err(
            "tenant_id may hold only letters, digits, '-' and '.' (a GUID or a domain)".into(),
        );
    }
    let auth = resolve_auth(dto)?;
    let client_id = dto.client_id.as_deref().map(str::trim).unwrap_or_default();
    // The Azure CLI and a managed identity bring their own client.
    let needs_client = !matches!(auth, Auth::AzureCli | Auth::ManagedIdentity { .. });
    if needs_client && client_id.is_empty() {
        return Err(format!(
            "client_id is {}; set it to the app registration's client id (auth = \"{}\" needs one)",
            if dto.client_id.is_some() {
                "empty"
            } else {
                "missing"
            },
            auth.name()
        ));
    }
    let cloud = match dto.cloud.as_deref() {
        None => Cloud::Commercial,
        Some("commercial") => Cloud::Commercial,
        Some("gcc") => Cloud::Gcc,
        Some("gcc-high") => Cloud::GccHigh,
        Some("dod") => Cloud::Dod,
        Some(other) => {
            return Err(format!(
                "cloud '{other}' is not one of: commercial, gcc, gcc-high, dod"
            ));
        }
    };
    let preset = cloud.preset();
    let api_base = endpoint(
        "api_base",
        dto.api_base.as_deref().unwrap_or(preset.api_base),
    )?;
    let authority = endpoint(
        "authority",
        dto.authority.as_deref().unwrap_or(preset.authority),
    )?;
    // The scope follows the cloud, not api_base: a regional or test api_base keeps it.
    let scope = dto
        .scope
        .clone()
        .unwrap_or_else(|| preset.scope.to_string());
    if scope.trim().is_empty() {
        return Err("scope is empty; remove it to use the cloud's scope".into());
    }
    if let Some(c) = &dto.color
        && !is_colour(c)
    {
        return Err(format!(
            "color '{c}' is not a colour; use a name such as red or a hex value such as #b00020"
        ));
    }
    Ok(Profile {
        name: name.to_string(),
        tenant_id: dto.tenant_id.trim().to_string(),
        client_id: client_id.to_string(),
        auth,
        ca_file: dto.ca_file.clone(),
        proxy: match &dto.proxy {
            Some(p) => Some(proxy_url(p)?),
            None => None,
        },
        cloud,
        api_base,
        authority,
        scope,
        readonly: dto.readonly,
        protected: dto.protected,
        protected_tags: Vec::new(),
        comment_rule: crate::domain::CommentRule::new(dto.comment_pattern.as_deref())?,
        comment_template: dto
            .comment_template
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        color: dto.color.clone(),
    })
}

/// The `auth` key and the keys each method needs. Without `auth`, a secret source
/// means client-secret (the profiles written before the key existed).
fn resolve_auth(dto: &ProfileDto) -> Result<Auth, String> {
    let has_secret = dto.client_secret_env.is_some() || dto.client_secret_command.is_some();
    let method = match dto.auth.as_deref().map(str::trim) {
        Some(m) => m.to_string(),
        None if has_secret => "client-secret".to_string(),
        None => {
            return Err(format!(
                "no sign-in method: set auth = one of {AUTH_METHODS} (client-secret also needs client_secret_env or client_secret_command)"
            ));
        }
    };
    // A key that belongs to another method is a mistake worth naming.
    let stray = |key: &str, set: bool| -> Result<(), String> {
        if set {
            Err(format!(
                "{key} does not apply to auth = \"{method}\"; remove it"
            ))
        } else {
            Ok(())
        }
    };
    if method != "client-secret" {
        stray("client_secret_env", dto.client_secret_env.is_some())?;
        stray("client_secret_command", dto.client_secret_command.is_some())?;
    }
    if method != "certificate" {
        stray("certificate_file", dto.certificate_file.is_some())?;
        stray(
            "certificate_password_env",
            dto.certificate_password_env.is_some(),
        )?;
    }
    if method != "managed-identity" {
        stray(
            "managed_identity_client_id",
            dto.managed_identity_client_id.is_some(),
        )?;
    }
    if method != "workload-identity" {
        stray("federated_token_file", dto.federated_token_file.is_some())?;
    }
    Ok(match method.as_str() {
        "client-secret" => Auth::ClientSecret(secret_source(dto)?),
        "certificate" => {
            match &dto.certificate_file {
                Some(f) if !f.as_os_str().is_empty() => Auth::Certificate {
                    file: f.clone(),
                    password_env: dto
                        .certificate_password_env
                        .as_deref()
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                },
                _ => {
                    return Err("auth = \"certificate\" needs certificate_file = \"path/to/key-and-cert.pem\"".into());
                }
            }
        }
        "device-code" => Auth::DeviceCode,
        "azure-cli" => Auth::AzureCli,
        "managed-identity" => Auth::ManagedIdentity {
            client_id: dto
                .managed_identity_client_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        "workload-identity" => Auth::WorkloadIdentity {
            token_file: dto.federated_token_file.clone(),
        },
        other => {
            return Err(format!(
                "auth '{}' is not one of: {AUTH_METHODS}",
                crate::sanitize::clean(other)
            ));
        }
    })
}

fn secret_source(dto: &ProfileDto) -> Result<SecretSource, String> {
    match (&dto.client_secret_env, &dto.client_secret_command) {
        (Some(var), None) if !var.trim().is_empty() => Ok(SecretSource::Env(var.trim().to_string())),
        (Some(_), None) => Err("client_secret_env is empty; name an environment variable".into()),
        (None, Some(argv)) if argv.first().is_some_and(|a| !a.trim().is_empty()) => {
            Ok(SecretSource::Command(argv.clone()))
        }
        (None, Some(_)) => Err("client_secret_command is empty; give the command as a list, e.g. [\"pass\", \"show\", \"mde/prod\"]".into()),
        (Some(_), Some(_)) => {
            Err("both client_secret_env and client_secret_command are set; keep one".into())
        }
        (None, None) => Err("auth = \"client-secret\" needs a secret source: set client_secret_env = \"VAR\" or client_secret_command = [\"pass\", \"show\", \"...\"]".into()),
    }
}

/// A proxy URL: http(s) with a host. Credentials in it are allowed (corporate proxies
/// ask for them) and never printed.
fn proxy_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| format!("proxy is not a URL ({e}); use e.g. http://proxy.corp:3128"))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || url.host_str().is_none()
    {
        return Err("proxy must be an http://, https:// or socks5:// URL with a host".into());
    }
    Ok(value.trim().to_string())
}

/// Parse an endpoint URL and apply the one transport rule (https, or http to
/// loopback; no credentials in the URL): tokens and secrets travel nowhere else.
fn endpoint(key: &str, value: &str) -> Result<String, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| {
        format!(
            "{key} '{}' is not a URL ({e})",
            crate::sanitize::clean(value)
        )
    })?;
    crate::domain::transport::check_token_url(key, &url).map_err(|e| e.to_string())?;
    Ok(value.trim().trim_end_matches('/').to_string())
}

/// The `env` profile from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
fn env_profile(
    path: &Path,
    wanted: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let (Some(tenant), Some(client), Some(secret)) = (
        get("AZURE_TENANT_ID"),
        get("AZURE_CLIENT_ID"),
        get("AZURE_CLIENT_SECRET"),
    ) else {
        return Err(ConfigError::NoConfig {
            path: path.to_path_buf(),
        });
    };
    if let Some(w) = wanted
        && w != "env"
    {
        return Err(ConfigError::UnknownProfile {
            name: w.to_string(),
            known: "env (from AZURE_* variables; there is no config file)".into(),
        });
    }
    let preset = Cloud::Commercial.preset();
    Ok(Settings {
        profile: Profile {
            name: "env".into(),
            tenant_id: tenant,
            client_id: client,
            auth: Auth::ClientSecret(SecretSource::Value(SecretString::from(secret))),
            ca_file: None,
            proxy: None,
            cloud: Cloud::Commercial,
            api_base: preset.api_base.into(),
            authority: preset.authority.into(),
            scope: preset.scope.into(),
            readonly: false,
            protected: false,
            protected_tags: Vec::new(),
            comment_rule: Default::default(),
            comment_template: None,
            color: None,
        },
        ui: UiSettings::default(),
        keys: BTreeMap::new(),
        config_path: None,
        warnings: Vec::new(),
        profile_names: vec!["env".into()],
    })
}

/// A config that names a secret command should not be readable by others: the command
/// line tells an attacker where the secret lives.
fn permission_warning(path: &Path, profile: &Profile) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 && matches!(profile.auth, Auth::ClientSecret(SecretSource::Command(_)))
        {
            return Some(format!(
                "{} is readable by other users and names a secret command; run chmod 600 {}",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, profile);
    None
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A colour the console can draw: a terminal colour name (as ratatui reads it: case,
/// spaces, `-`/`_`, "bright"/"grey" spellings are forgiven), an index 0-255, or
/// `#rrggbb`. Checked here so a bad value is a config error, not a silent default; the
/// console's test checks that every value accepted here parses there.
pub fn is_colour(value: &str) -> bool {
    let name = value
        .to_lowercase()
        .replace([' ', '-', '_'], "")
        .replace("bright", "light")
        .replace("grey", "gray")
        .replace("silver", "gray")
        .replace("lightblack", "darkgray")
        .replace("lightwhite", "white")
        .replace("lightgray", "white");
    const NAMES: [&str; 17] = [
        "reset",
        "black",
        "red",
        "green",
        "yellow",
        "blue",
        "magenta",
        "cyan",
        "gray",
        "darkgray",
        "lightred",
        "lightgreen",
        "lightyellow",
        "lightblue",
        "lightmagenta",
        "lightcyan",
        "white",
    ];
    NAMES.contains(&name.as_str())
        || value.parse::<u8>().is_ok()
        || (value.len() == 7
            && value.starts_with('#')
            && value[1..].chars().all(|c| c.is_ascii_hexdigit()))
}
