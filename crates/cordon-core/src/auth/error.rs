//! Sign-in errors. Each message is one sentence: what happened, and what to do next.
//! No variant holds a secret or a token; strings from the sign-in endpoint are
//! sanitized before they are stored.

use serde::{Deserialize, Serialize};

use crate::sanitize::clean_truncated;

/// Entra's token endpoint error shape: `error` is a *string* here (docs/mde-api.md §1.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `SecretSource::Env` names a variable that is unset or empty.
    #[error(
        "the environment variable {var} holding the client secret is not set or is empty; export it or change the profile's secret source"
    )]
    SecretEnvMissing { var: String },

    /// The variable exists but is not valid Unicode.
    #[error(
        "the environment variable {var} holding the client secret is not valid UTF-8; set it to the secret text"
    )]
    SecretEnvNotUnicode { var: String },

    #[error(
        "the profile's secret command is empty; give it as an argv list such as [\"pass\", \"show\", \"mde/prod\"]"
    )]
    SecretCommandEmpty,

    #[error(
        "cannot start the secret command '{program}' ({reason}); check that it is installed and on PATH"
    )]
    SecretCommandSpawn { program: String, reason: String },

    #[error("the secret command '{program}' exited with {status}; run it by hand to see why")]
    SecretCommandFailed { program: String, status: String },

    #[error(
        "the secret command '{program}' did not finish within {seconds} s; check that it does not wait for input"
    )]
    SecretCommandTimeout { program: String, seconds: u64 },

    #[error(
        "the secret command '{program}' printed no secret (or not UTF-8 text); check the entry it reads"
    )]
    SecretCommandNoOutput { program: String },

    /// AADSTS7000215.
    #[error(
        "Entra rejected the client secret (AADSTS7000215); copy the secret's Value (not its ID) from the app registration into the profile's secret source"
    )]
    WrongSecret,

    /// AADSTS7000222, 50173, 700082, 70008, 54005.
    #[error(
        "the client secret has expired or been revoked (AADSTS{code}); create a new secret in the app registration and update the profile's secret source"
    )]
    SecretExpired { code: i64 },

    /// AADSTS700016.
    #[error(
        "no application with client id {client_id} exists in tenant {tenant_id} (AADSTS700016); check the profile's client_id and tenant_id, and that the app is consented in that tenant"
    )]
    AppNotFound {
        client_id: String,
        tenant_id: String,
    },

    /// AADSTS90002.
    #[error(
        "tenant {tenant_id} was not found (AADSTS90002); check the profile's tenant_id and cloud"
    )]
    TenantNotFound { tenant_id: String },

    /// AADSTS70011.
    #[error(
        "Entra rejected the scope {scope} (AADSTS70011); use the API host followed by /.default, e.g. https://api.securitycenter.microsoft.com/.default"
    )]
    InvalidScope { scope: String },

    /// Any other Entra error: the `error` string and the AADSTS code when there is one.
    #[error(
        "sign-in was refused with {status} {error}{}; check the profile's tenant_id, client_id and secret", aadsts_suffix(*.aadsts)
    )]
    Refused {
        status: u16,
        error: String,
        aadsts: Option<i64>,
    },

    /// The token endpoint answered something that is not Entra's JSON.
    #[error(
        "the sign-in endpoint answered {status} with {note}; check the profile's authority URL and any proxy in between"
    )]
    UnexpectedResponse { status: u16, note: String },

    /// The token endpoint's answer was longer than cordon reads (`limit` bytes).
    #[error(
        "the sign-in endpoint sent an oversized answer ({status}, more than {}, cordon's cap for a token answer); check the profile's authority URL and any proxy in between",
        crate::bounded::mib(*.limit)
    )]
    OversizedAnswer { status: u16, limit: usize },

    /// Connect error, DNS failure, TLS failure, timeout.
    #[error(
        "cannot reach the sign-in endpoint {host} ({reason}); check the network, proxy and the profile's authority"
    )]
    Unreachable { host: String, reason: String },

    /// The authority is not https (and not loopback) or not a URL at all.
    #[error("refusing the sign-in authority {url}: {reason}")]
    InsecureAuthority { url: String, reason: String },

    /// The certificate file could not be used.
    #[error(
        "cannot use the certificate file {path}: {reason}; give certificate_file a PEM file holding the RSA private key and the certificate registered with the app"
    )]
    Certificate { path: String, reason: String },

    /// AADSTS700027 and kin: the assertion's certificate is not the app's.
    #[error(
        "Entra did not accept the certificate (AADSTS{code}); upload the certificate (not the key) to the app registration's Certificates & secrets, or point certificate_file at the one registered"
    )]
    CertificateRejected { code: i64 },

    /// The workload identity's federated token file is missing or empty.
    #[error(
        "cannot read the federated token {path}: {reason}; set AZURE_FEDERATED_TOKEN_FILE (or federated_token_file) to the projected service-account token"
    )]
    FederatedToken { path: String, reason: String },

    /// `az account get-access-token` failed.
    #[error("the Azure CLI gave no token: {reason}")]
    AzureCli { reason: String },

    /// The managed-identity endpoint failed.
    #[error("the managed identity gave no token: {reason}")]
    ManagedIdentity { reason: String },

    /// A delegated profile with no cached sign-in (or one that has expired).
    #[error(
        "profile {profile} signs in as you and has no valid sign-in{why}; run: cordon --profile {profile} login"
    )]
    SignInRequired { profile: String, why: String },

    /// The device-code sign-in ended without a token.
    #[error("the sign-in did not complete: {reason}")]
    DeviceCode { reason: String },

    /// The token cache could not be read or written.
    #[error("cannot use the token cache {path}: {reason}")]
    TokenCache { path: String, reason: String },

    /// The Defender API refused a token that was fetched just before (two 401s in a row).
    #[error(
        "the Defender API at {api_host} refused a freshly issued token; grant the app the WindowsDefenderATP permissions (with admin consent) and check that the profile's scope matches the API host"
    )]
    TokenRejected { api_host: String },
}

fn aadsts_suffix(code: Option<i64>) -> String {
    code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default()
}

impl AuthError {
    /// Map Entra's error answer (`error` is a string; mde-api.md §1.4) to a variant.
    /// Falls back to [`AuthError::UnexpectedResponse`] when the body is not that shape.
    pub fn from_token_response(
        status: u16,
        body: &[u8],
        client_id: &str,
        tenant_id: &str,
        scope: &str,
    ) -> Self {
        let parsed: TokenErrorBody = match serde_json::from_slice(body) {
            Ok(parsed) => parsed,
            Err(_) => {
                let note = if body.is_empty() {
                    "an empty body".to_string()
                } else if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                    "JSON that is not an Entra error".to_string()
                } else {
                    "a body that is not JSON (a proxy or captive portal?)".to_string()
                };
                return Self::UnexpectedResponse { status, note };
            }
        };
        let code = parsed
            .error_codes
            .first()
            .copied()
            .or_else(|| aadsts_from_description(parsed.error_description.as_deref()));
        match code {
            Some(7000215) => Self::WrongSecret,
            Some(c @ (7000222 | 50173 | 700082 | 70008 | 54005)) => Self::SecretExpired { code: c },
            Some(700016) => Self::AppNotFound {
                client_id: clean_truncated(client_id, 80),
                tenant_id: clean_truncated(tenant_id, 80),
            },
            Some(90002) => Self::TenantNotFound {
                tenant_id: clean_truncated(tenant_id, 80),
            },
            // The assertion's signature or certificate, or its time window.
            Some(c @ (700027 | 700024 | 700023)) => Self::CertificateRejected { code: c },
            Some(70011) => Self::InvalidScope {
                scope: clean_truncated(scope, 200),
            },
            _ => Self::Refused {
                status,
                error: clean_truncated(&parsed.error, 80),
                aadsts: code,
            },
        }
    }

    /// True when asking again cannot help until someone changes the configuration.
    pub fn is_configuration(&self) -> bool {
        !matches!(
            self,
            Self::Unreachable { .. }
                | Self::UnexpectedResponse { .. }
                | Self::OversizedAnswer { .. }
                | Self::SecretCommandTimeout { .. }
        )
    }
}

/// `"AADSTS7000215: Invalid client secret…"` → 7000215.
fn aadsts_from_description(description: Option<&str>) -> Option<i64> {
    let rest = description?.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> AuthError {
        AuthError::from_token_response(
            status,
            body.as_bytes(),
            "app-id",
            "tenant-id",
            "scope/.default",
        )
    }

    #[test]
    fn known_aadsts_codes_map_to_specific_advice() {
        assert_eq!(
            map(401, r#"{"error":"invalid_client","error_codes":[7000215]}"#),
            AuthError::WrongSecret
        );
        for code in [7000222, 50173, 700082, 70008, 54005] {
            let body = format!(r#"{{"error":"invalid_client","error_codes":[{code}]}}"#);
            assert_eq!(map(401, &body), AuthError::SecretExpired { code });
        }
        assert!(matches!(
            map(
                400,
                r#"{"error":"unauthorized_client","error_codes":[700016]}"#
            ),
            AuthError::AppNotFound { .. }
        ));
        assert!(matches!(
            map(400, r#"{"error":"invalid_request","error_codes":[90002]}"#),
            AuthError::TenantNotFound { .. }
        ));
        assert!(matches!(
            map(400, r#"{"error":"invalid_scope","error_codes":[70011]}"#),
            AuthError::InvalidScope { .. }
        ));
    }

    #[test]
    fn code_is_read_from_the_description_when_error_codes_is_missing() {
        let err = map(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
        );
        assert_eq!(err, AuthError::WrongSecret);
    }

    #[test]
    fn unknown_codes_show_the_error_string_and_code() {
        let err = map(400, r#"{"error":"invalid_grant","error_codes":[12345]}"#);
        let text = err.to_string();
        assert!(text.contains("invalid_grant"), "{text}");
        assert!(text.contains("AADSTS12345"), "{text}");
    }

    #[test]
    fn non_json_and_mde_shaped_bodies_are_unexpected() {
        assert!(matches!(
            map(502, "<html>Bad gateway</html>"),
            AuthError::UnexpectedResponse { status: 502, .. }
        ));
        // The MDE API envelope (`error` is an object) is not a token error.
        assert!(matches!(
            map(400, r#"{"error":{"code":"BadRequest","message":"x"}}"#),
            AuthError::UnexpectedResponse { status: 400, .. }
        ));
    }

    #[test]
    fn error_strings_from_the_server_are_sanitized() {
        let err = map(400, "{\"error\":\"evil\\u001b]0;pwned\\u0007x\"}");
        assert!(!err.to_string().contains('\u{1b}'));
    }
}
