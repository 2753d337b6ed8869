//! Client assertions for certificate sign-in: a JWT signed RS256 with the
//! certificate's private key, naming the certificate by its SHA-256 thumbprint
//! (`x5t#S256`), addressed to the token endpoint, short-lived and never reused (`jti`).
//! Signing uses aws-lc-rs, the crypto rustls already brings; PEM parsing uses
//! rustls-pki-types. No OpenSSL, no second stack.

use std::path::Path;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::SecretString;

use super::AuthError;

/// How long an assertion is valid: Entra needs only seconds; ten minutes allows for a
/// skewed clock.
const LIFETIME_SECS: i64 = 600;

/// A certificate's private key and thumbprint, loaded from one PEM file.
pub struct Credential {
    key: RsaKeyPair,
    /// base64url(SHA-256(certificate DER)).
    pub thumbprint_s256: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("thumbprint_s256", &self.thumbprint_s256)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 thumbprint of a DER certificate, base64url, as `x5t#S256` carries it.
pub fn thumbprint_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        cert_der,
    ))
}

impl Credential {
    /// A PEM file, or a PKCS#12 file (anything not PEM) whose password is in the
    /// environment variable `password_env` (none: an empty password).
    pub fn load_with_password(path: &Path, password_env: Option<&str>) -> Result<Self, AuthError> {
        let bad = |reason: String| AuthError::Certificate {
            path: path.display().to_string(),
            reason,
        };
        let bytes = secrecy::zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?,
        );
        if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).all(u8::is_ascii) {
            return Self::load(path);
        }
        let password = match password_env {
            Some(var) => secrecy::zeroize::Zeroizing::new(std::env::var(var).map_err(|_| {
                bad(format!(
                    "it is PKCS#12 and the variable {var} holding its password is not set"
                ))
            })?),
            None => secrecy::zeroize::Zeroizing::new(String::new()),
        };
        Self::from_pkcs12(path, &bytes, &password)
    }

    /// A PKCS#12 file's key and certificate, opened with `password`.
    pub fn from_pkcs12(path: &Path, bytes: &[u8], password: &str) -> Result<Self, AuthError> {
        let bad = |reason: String| AuthError::Certificate {
            path: path.display().to_string(),
            reason,
        };
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|_| {
            bad("it is not a PKCS#12 file cordon can open with that password (set certificate_password_env)".into())
        })?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| bad("the PKCS#12 file holds no private key".into()))?;
        let cert = chain
            .certs()
            .first()
            .ok_or_else(|| bad("the PKCS#12 file holds no certificate".into()))?;
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der())
            .map_err(|e| bad(format!("its RSA key was refused ({e})")))?;
        Ok(Self {
            key,
            thumbprint_s256: thumbprint_s256(cert.as_der()),
        })
    }

    /// Read the private key (PKCS#8 or PKCS#1 RSA) and the first certificate from a PEM
    /// file. Errors name the file and what is missing, never the key.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let bad = |reason: String| AuthError::Certificate {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
        let pem = secrecy::zeroize::Zeroizing::new(pem);
        let cert = CertificateDer::from_pem_slice(&pem)
            .map_err(|_| bad("it holds no CERTIFICATE block".into()))?;
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|_| bad("it holds no PRIVATE KEY block".into()))?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(bad(
                    "its key is not an RSA key (Entra certificate sign-in uses RSA)".into(),
                ));
            }
        }
        .map_err(|e| bad(format!("its RSA key was refused ({e})")))?;
        Ok(Self {
            key,
            thumbprint_s256: thumbprint_s256(cert.as_ref()),
        })
    }

    /// A signed assertion for `client_id`, addressed to `audience` (the token URL).
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now_unix: i64,
    ) -> Result<SecretString, AuthError> {
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t#S256": self.thumbprint_s256,
        });
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": new_jti(),
            "nbf": now_unix,
            "iat": now_unix,
            "exp": now_unix + LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AuthError::Certificate {
                path: String::new(),
                reason: "signing the assertion failed".into(),
            })?;
        Ok(SecretString::from(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

/// A random UUID v4 for `jti`.
fn new_jti() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        8 | (b[8] & 0x3),
        u16::from_be_bytes([b[9], b[10]]) & 0x0fff,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// The claims of a JWT, read without checking its signature: for showing who a token
/// names (`cordon whoami`, the audit log's principal), never for trusting it.
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}
