//! The simulator's Entra ID: every sign-in method cordon speaks, checked as the real
//! service checks it, so tests and `--demo` exercise each over real loopback HTTP.
//!
//! - client credentials with the secret, with a certificate assertion (RS256 verified
//!   against the registered certificate; `x5t#S256`, `aud`, `iss`/`sub`, `exp`/`nbf`
//!   checked; a replayed `jti` refused) or with a federated token;
//! - the device-code flow (`/devicecode`, polls answered `authorization_pending` until
//!   the code is approved at `/devicelogin`, declined, or expired) and refresh tokens,
//!   rotated on use and revocable;
//! - managed identity: the IMDS path (`Metadata: true`) and the App Service path
//!   (`X-IDENTITY-HEADER`).
//!
//! Access tokens are JWT-shaped (claims readable, signature not real): cordon reads
//! who they name, as it does with Entra's.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The certificate registered for the demo app (its key is beside it: the simulator
/// is a stand-in, and this pair signs nothing anywhere else).
pub const DEMO_CERTIFICATE_PEM: &str = include_str!("../assets/demo-app-cert.pem");

/// The federated token the simulator's app trusts (a workload's projected token).
pub const DEMO_FEDERATED_TOKEN: &str =
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c29jOmNvcmRvbiJ9.sim";

/// Who a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    App { client_id: String },
    User { upn: String },
    ManagedIdentity { client_id: String },
}

impl Principal {
    /// The action's `requestor`, as Defender records it.
    pub fn requestor(&self) -> String {
        match self {
            Self::App { .. } => "cordon-demo-app".into(),
            Self::User { upn } => upn.clone(),
            Self::ManagedIdentity { client_id } => format!("managed-identity-{client_id}"),
        }
    }

    /// The key quotas are counted against.
    pub fn quota_key(&self) -> String {
        match self {
            Self::App { client_id } | Self::ManagedIdentity { client_id } => client_id.clone(),
            Self::User { upn } => upn.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    Approved(String),
    Declined,
}

#[derive(Debug)]
pub struct DeviceCode {
    pub user_code: String,
    pub state: DeviceState,
    pub expires: Instant,
    pub polls: u32,
}

/// What the simulator's Entra remembers.
#[derive(Debug, Default)]
pub struct Identity {
    pub device_codes: HashMap<String, DeviceCode>,
    /// refresh token → the user it signs in.
    pub refresh_tokens: HashMap<String, String>,
    pub seen_jti: HashSet<String>,
}

/// An Entra error: (status, error, AADSTS code, text).
pub type EntraError = (u16, &'static str, u32, String);

pub fn random_token(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..36), 36).unwrap_or('x'))
        .collect()
}

/// A JWT-shaped access token naming `principal` (the signature is not real).
pub fn access_token(
    principal: &Principal,
    tenant: &str,
    resource: &str,
    ttl: Duration,
    nonce: &str,
) -> String {
    let now = chrono::Utc::now().timestamp();
    let exp = now + i64::try_from(ttl.as_secs()).unwrap_or(3600);
    let mut claims = serde_json::json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "uti": nonce,
    });
    match principal {
        Principal::App { client_id } => {
            claims["appid"] = client_id.clone().into();
            claims["app_displayname"] = "cordon-demo-app".into();
            claims["roles"] = serde_json::json!(["Machine.Isolate", "Machine.Read.All"]);
        }
        Principal::User { upn } => {
            claims["upn"] = upn.clone().into();
            claims["scp"] = "Machine.Isolate Machine.Read".into();
        }
        Principal::ManagedIdentity { client_id } => {
            claims["appid"] = client_id.clone().into();
            claims["roles"] = serde_json::json!(["Machine.Isolate", "Machine.Read.All"]);
        }
    }
    format!(
        "{}.{}.c2lt",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256","kid":"sim"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Check a certificate client assertion as Entra does. `audience` is the token URL
/// the client posted to; `registered` the app's certificate (PEM).
pub fn check_assertion(
    assertion: &str,
    client_id: &str,
    audience_path: &str,
    registered: &str,
    seen_jti: &mut HashSet<String>,
) -> Result<(), EntraError> {
    let invalid = |code: u32, text: &str| (401, "invalid_client", code, text.to_string());
    let mut parts = assertion.split('.');
    let (Some(h), Some(c), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(50027, "JWT token is invalid or malformed."));
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let json =
        |s: &str| decode(s).and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let (Some(header), Some(claims), Some(signature)) = (json(h), json(c), decode(sig)) else {
        return Err(invalid(50027, "JWT token is invalid or malformed."));
    };
    if header["alg"] != "RS256" && header["alg"] != "PS256" {
        return Err(invalid(5002738, "The JWT's alg is not supported."));
    }
    let cert = CertificateDer::from_pem_slice(registered.as_bytes())
        .map_err(|_| invalid(700027, "No certificate is registered for the application."))?;
    let thumbprint = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        cert.as_ref(),
    ));
    if header["x5t#S256"].as_str() != Some(thumbprint.as_str()) {
        return Err(invalid(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application.",
        ));
    }
    let end_entity = webpki::EndEntityCert::try_from(&cert)
        .map_err(|_| invalid(700027, "The registered certificate is unreadable."))?;
    end_entity
        .verify_signature(
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            format!("{h}.{c}").as_bytes(),
            &signature,
        )
        .map_err(|_| invalid(700027, "Client assertion contains an invalid signature."))?;
    let aud_ok = claims["aud"]
        .as_str()
        .and_then(|a| url::Url::parse(a).ok())
        .is_some_and(|u| u.path() == audience_path);
    if !aud_ok {
        return Err(invalid(
            700023,
            "The audience of the client assertion is not the token endpoint.",
        ));
    }
    if claims["iss"] != client_id || claims["sub"] != client_id {
        return Err(invalid(
            700023,
            "The client assertion's iss and sub must be the client id.",
        ));
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(now);
    if exp <= now || nbf > now + 300 || exp - now > 3600 {
        return Err(invalid(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let jti = claims["jti"].as_str().unwrap_or_default().to_string();
    if jti.is_empty() || !seen_jti.insert(jti) {
        return Err(invalid(
            700024,
            "The client assertion was already used (jti replayed).",
        ));
    }
    Ok(())
}

/// The page a person opens to approve a device code (the demo's stand-in for
/// microsoft.com/devicelogin): a form posting the code and who signs in.
pub const DEVICE_LOGIN_PAGE: &str = "<!doctype html><title>cordon simulator sign-in</title>\
<h1>Simulator sign-in</h1><form method=post>\
<p>Code <input name=code autofocus></p><p>Sign in as <input name=user value=alice@contoso.com></p>\
<p><button name=decision value=approve>Approve</button> <button name=decision value=decline>Decline</button></p></form>";
