//! Every sign-in method against the simulator's Entra over real loopback HTTP (issue
//! 12): certificate assertions (and a wrong certificate, a replayed assertion), the
//! workload identity's federated token, and the device-code flow with its refresh
//! token (declined, expired, revoked), with the token cache's rules.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cordon_core::api::client::{ClientOptions, MdeClient};
use cordon_core::api::{DefenderApi, Machine, PageRequest};
use cordon_core::auth::AuthError;
use cordon_core::config::{Auth, Profile};
use cordon_sim::{RunningSim, SimConfig, Simulator, demo_profile, serve};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

async fn start(cfg: SimConfig) -> (Simulator, RunningSim, CancellationToken) {
    let sim = Simulator::new(cfg);
    let cancel = CancellationToken::new();
    let running = serve(sim.clone(), "127.0.0.1:0".parse().unwrap(), cancel.clone())
        .await
        .unwrap();
    (sim, running, cancel)
}

fn profile_with(running: &RunningSim, cfg: &SimConfig, auth: Auth) -> Profile {
    Profile {
        auth,
        name: "signin-test".into(),
        ..demo_profile(running, cfg)
    }
}

/// A client whose delegated sign-in is cached in `cache_dir`, not the user's data dir.
fn client(profile: &Profile, cache_dir: &std::path::Path) -> MdeClient {
    MdeClient::new(profile, ClientOptions::default())
        .unwrap()
        .with_token_cache_dir(&cache_dir.join("tokens"), profile)
}

async fn lists(client: &MdeClient) -> Result<usize, cordon_core::api::ApiError> {
    let page = client
        .machines_page::<Machine>(PageRequest::First {
            filter: None,
            top: 50,
        })
        .await?;
    Ok(page.value.len())
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_certificate_signs_in_and_a_wrong_one_is_named() {
    let cfg = SimConfig::default();
    let (_sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "app.pem",
        cordon_sim::identity::DEMO_CERTIFICATE_PEM,
    );
    let profile = profile_with(
        &running,
        &cfg,
        Auth::Certificate {
            file: good,
            password_env: None,
        },
    );
    let c = client(&profile, dir.path());
    assert_eq!(lists(&c).await.unwrap(), 50);
    // Each token request signs a fresh assertion (a new jti): a second one works.
    c.token_provider().invalidate().await;
    assert_eq!(lists(&c).await.unwrap(), 50);

    let wrong = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wrong-cert.pem"
    ));
    let profile = profile_with(
        &running,
        &cfg,
        Auth::Certificate {
            file: wrong,
            password_env: None,
        },
    );
    let err = client(&profile, dir.path())
        .check_sign_in()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("AADSTS700027") && text.contains("certificate"),
        "{text}"
    );

    let missing = profile_with(
        &running,
        &cfg,
        Auth::Certificate {
            file: dir.path().join("nope.pem"),
            password_env: None,
        },
    );
    let text = client(&missing, dir.path())
        .check_sign_in()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("nope.pem") && text.contains("certificate_file"),
        "{text}"
    );

    // The same certificate as PKCS#12: opened with its password, refused (naming the
    // key to set) with a wrong one. (The binary test reads the password from the
    // environment.)
    let pfx = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/demo-app-cert.pfx"
    ));
    use cordon_core::auth::assertion::Credential;
    let bytes = std::fs::read(&pfx).unwrap();
    let from_pfx = Credential::from_pkcs12(&pfx, &bytes, "cordon-demo-pfx").unwrap();
    let from_pem = Credential::load(&dir.path().join("app.pem")).unwrap();
    assert_eq!(from_pfx.thumbprint_s256, from_pem.thumbprint_s256);
    let wrong = Credential::from_pkcs12(&pfx, &bytes, "nope").unwrap_err();
    assert!(
        wrong.to_string().contains("certificate_password_env"),
        "{wrong}"
    );
    stop.cancel();
}

/// The simulator checks what Entra checks: a replayed assertion (same jti) and one
/// for another audience are refused.
#[tokio::test]
async fn a_replayed_or_misaddressed_assertion_is_refused() {
    let cfg = SimConfig::default();
    let (_sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "app.pem",
        cordon_sim::identity::DEMO_CERTIFICATE_PEM,
    );
    let credential = cordon_core::auth::assertion::Credential::load(&path).unwrap();
    let token_url = format!("{}/{}/oauth2/v2.0/token", running.base_url, cfg.tenant_id);
    let now = chrono::Utc::now().timestamp();
    let post = |assertion: String| {
        let url = token_url.clone();
        let client_id = cfg.client_id.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                    ("scope", "https://api.securitycenter.microsoft.com/.default"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let once = credential
        .assertion(&cfg.client_id, &token_url, now)
        .unwrap()
        .expose_secret()
        .to_string();
    assert_eq!(post(once.clone()).await.status(), 200);
    let replay = post(once).await;
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("jti replayed"));
    let elsewhere = credential
        .assertion(
            &cfg.client_id,
            "https://login.example/other/oauth2/v2.0/token",
            now,
        )
        .unwrap()
        .expose_secret()
        .to_string();
    assert_eq!(post(elsewhere).await.status(), 401);
    let expired = credential
        .assertion(&cfg.client_id, &token_url, now - 3600)
        .unwrap()
        .expose_secret()
        .to_string();
    let expired = post(expired).await;
    assert_eq!(expired.status(), 401);
    assert!(expired.text().await.unwrap().contains("AADSTS700024"));
    stop.cancel();
}

#[tokio::test]
async fn a_workload_identity_signs_in_with_its_federated_token() {
    let cfg = SimConfig::default();
    let (_sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = write(
        dir.path(),
        "token",
        &format!("{}\n", cordon_sim::identity::DEMO_FEDERATED_TOKEN),
    );
    let profile = profile_with(
        &running,
        &cfg,
        Auth::WorkloadIdentity {
            token_file: Some(token),
        },
    );
    assert_eq!(lists(&client(&profile, dir.path())).await.unwrap(), 50);
    let forged = write(dir.path(), "forged", "eyJhbGciOiJub25lIn0.e30.");
    let profile = profile_with(
        &running,
        &cfg,
        Auth::WorkloadIdentity {
            token_file: Some(forged),
        },
    );
    assert!(client(&profile, dir.path()).check_sign_in().await.is_err());
    stop.cancel();
}

/// The device-code flow end to end at the library level: pending polls, approval at
/// the sign-in page, the refresh token cached 0600, later tokens from it (rotated),
/// and a revoked refresh token sending the analyst back to `login`.
#[tokio::test]
async fn the_device_code_flow_caches_a_refresh_token_until_it_is_revoked() {
    let cfg = SimConfig::default();
    let (sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_with(&running, &cfg, Auth::DeviceCode);
    let c = client(&profile, dir.path());
    // Before any sign-in: a clear instruction, no network needed.
    let err = c.check_sign_in().await.unwrap_err().to_string();
    assert!(err.contains("cordon --profile signin-test login"), "{err}");

    let base = running.base_url.clone();
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let approver = tokio::spawn(async move {
        let code = code_rx.await.unwrap();
        reqwest::Client::new()
            .post(format!("{base}/devicelogin"))
            .form(&[
                ("code", code.as_str()),
                ("user", "alice@contoso.com"),
                ("decision", "approve"),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    let mut code_tx = Some(code_tx);
    let mut waits = 0;
    let signed_in = c
        .token_provider()
        .login(
            &CancellationToken::new(),
            |prompt| {
                assert!(prompt.message.contains(&prompt.user_code));
                if let Some(tx) = code_tx.take() {
                    let _ = tx.send(prompt.user_code.clone());
                }
            },
            |_| waits += 1,
        )
        .await
        .unwrap();
    assert_eq!(approver.await.unwrap(), 200);
    assert_eq!(signed_in.username.as_deref(), Some("alice@contoso.com"));
    assert!(waits >= 1);

    let cache = c
        .token_provider()
        .token_cache()
        .unwrap()
        .path()
        .to_path_buf();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(cache.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    assert_eq!(lists(&c).await.unwrap(), 50);
    assert_eq!(
        c.token_provider().principal().await.as_deref(),
        Some("alice@contoso.com")
    );
    // A new process (a new client) needs no prompt: the refresh token signs it in.
    let later = client(&profile, dir.path());
    assert_eq!(lists(&later).await.unwrap(), 50);

    // A cache others could read is not trusted.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = client(&profile, dir.path())
            .check_sign_in()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("readable by other users"), "{err}");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // An admin revokes the sessions: back to login, with the reason.
    sim.revoke_refresh_tokens();
    let fresh = client(&profile, dir.path());
    let err = fresh.check_sign_in().await.unwrap_err();
    assert!(
        matches!(
            &err,
            cordon_core::api::ApiError::Auth(AuthError::SignInRequired { why, .. }) if why.contains("revoked")
        ),
        "{err}"
    );
    // logout forgets it.
    assert!(fresh.token_provider().logout().await.unwrap());
    assert!(!cache.exists());
    stop.cancel();
}

#[tokio::test]
async fn a_declined_or_expired_device_code_ends_the_login_clearly() {
    let cfg = SimConfig {
        device_code_ttl: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let (_sim, running, stop) = start(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_with(&running, &cfg, Auth::DeviceCode);
    let c = client(&profile, dir.path());

    let base = running.base_url.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    tokio::spawn(async move {
        let code = rx.await.unwrap();
        reqwest::Client::new()
            .post(format!("{base}/devicelogin"))
            .form(&[("code", code.as_str()), ("decision", "decline")])
            .send()
            .await
            .unwrap();
    });
    let mut tx = Some(tx);
    let err = c
        .token_provider()
        .login(
            &CancellationToken::new(),
            |p| {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(p.user_code.clone());
                }
            },
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("declined"), "{err}");

    // Nobody signs in: the code expires (the simulator's lasts 2 s).
    let err = c
        .token_provider()
        .login(&CancellationToken::new(), |_| {}, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        c.token_provider()
            .token_cache()
            .unwrap()
            .load()
            .unwrap()
            .is_none()
    );
    stop.cancel();
}
