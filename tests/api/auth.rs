//! Sign-in: secret resolution, the token provider against a loopback Entra mock, and
//! the advice each Entra error maps to.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::client_support::*;
use cordon_core::auth::{
    AuthError, MAX_TOKEN_BODY, MAX_TOKEN_TTL, TokenProvider, resolve_secret,
    resolve_secret_with_timeout,
};
use cordon_core::config::SecretSource;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn argv(args: &[&str]) -> SecretSource {
    SecretSource::Command(args.iter().map(|s| s.to_string()).collect())
}

// ---------------------------------------------------------------- resolve_secret

#[tokio::test]
async fn env_secret_is_read_from_the_variable() {
    // Setting variables needs `unsafe` in edition 2024 (forbidden here): read one the
    // test process certainly has.
    let expected = std::env::var("PATH").expect("PATH is set");
    let secret = resolve_secret(&SecretSource::Env("PATH".into()))
        .await
        .expect("PATH resolves");
    assert_eq!(secret.expose_secret(), expected.trim());
}

#[tokio::test]
async fn missing_env_secret_names_the_variable() {
    let var = "CORDON_TEST_SECRET_THAT_IS_NEVER_SET_7f3a";
    let err = resolve_secret(&SecretSource::Env(var.into()))
        .await
        .expect_err("must fail");
    assert_eq!(err, AuthError::SecretEnvMissing { var: var.into() });
    assert!(err.to_string().contains(var));
}

#[tokio::test]
async fn command_secret_is_stdout_trimmed() {
    let secret = resolve_secret(&argv(&["printf", "  s3cret\n"]))
        .await
        .expect("printf resolves");
    assert_eq!(secret.expose_secret(), "s3cret");
}

#[tokio::test]
async fn command_runs_without_a_shell() {
    // With a shell, `$HOME` would be expanded; without one it is passed literally.
    let secret = resolve_secret(&argv(&["printf", "%s", "$HOME;x"]))
        .await
        .expect("printf resolves");
    assert_eq!(secret.expose_secret(), "$HOME;x");
}

#[tokio::test]
async fn failing_command_names_program_and_status_but_not_output() {
    let err = resolve_secret(&argv(&["sh", "-c", "echo leaked-output-xyz; exit 3"]))
        .await
        .expect_err("must fail");
    assert_eq!(
        err,
        AuthError::SecretCommandFailed {
            program: "sh".into(),
            status: "status 3".into()
        }
    );
    let text = err.to_string();
    assert!(text.contains("'sh'") && text.contains("status 3"), "{text}");
    assert!(!text.contains("leaked-output-xyz"), "{text}");
    assert!(!format!("{err:?}").contains("leaked-output-xyz"));
    // Only argv[0] is named, not the arguments (which might name a vault path).
    assert!(!text.contains("exit 3"), "{text}");
}

#[tokio::test]
async fn missing_program_and_empty_output_are_reported() {
    let err = resolve_secret(&argv(&["/nonexistent/cordon-secret-helper"]))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, AuthError::SecretCommandSpawn { program, .. } if program == "/nonexistent/cordon-secret-helper"),
        "{err:?}"
    );
    let err = resolve_secret(&argv(&["true"]))
        .await
        .expect_err("must fail");
    assert_eq!(
        err,
        AuthError::SecretCommandNoOutput {
            program: "true".into()
        }
    );
}

#[tokio::test]
async fn slow_command_times_out() {
    let started = std::time::Instant::now();
    let err = resolve_secret_with_timeout(&argv(&["sleep", "20"]), Duration::from_millis(200))
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, AuthError::SecretCommandTimeout { ref program, .. } if program == "sleep")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- token provider

#[tokio::test]
async fn token_request_is_a_client_credentials_form_post() {
    let mock = Mock::start(|req, earlier| {
        assert!(req.is_token(), "unexpected {}", req.path);
        token_ok(earlier, json!(3599))
    })
    .await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let token = provider.get_token().await.expect("token");
    assert_eq!(token.secret.expose_secret(), "tok-1");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form = req.form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], SECRET);
    assert_eq!(form["scope"], SCOPE);
    assert_eq!(form.len(), 4);
}

#[tokio::test]
async fn token_is_cached_and_v1_string_expires_in_is_accepted() {
    let mock = Mock::start(|_, earlier| {
        json_response(
            200,
            json!({"token_type": "Bearer", "expires_in": "3599", "expires_on": "1388452167",
                   "not_before": "1388448267", "resource": "https://api.securitycenter.microsoft.com",
                   "access_token": format!("tok-{}", earlier.len() + 1)}),
        )
    })
    .await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    for _ in 0..5 {
        let token = provider.get_token().await.expect("token");
        assert_eq!(token.secret.expose_secret(), "tok-1");
    }
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(provider.request_count(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let mock = Mock::start(|_, earlier| {
        delayed(token_ok(earlier, json!(3599)), Duration::from_millis(200))
    })
    .await;
    let provider = Arc::new(TokenProvider::new(&mock.profile(), http()).expect("provider"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.get_token().await })
        })
        .collect();
    for task in tasks {
        let token = task.await.expect("join").expect("token");
        assert_eq!(token.secret.expose_secret(), "tok-1");
    }
    assert_eq!(mock.token_requests(), 1);
}

#[tokio::test]
async fn token_is_refreshed_near_expiry() {
    // A 1 s token is refreshed 10% before expiry (0.9 s in).
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(1))).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    assert_eq!(
        provider
            .get_token()
            .await
            .expect("t")
            .secret
            .expose_secret(),
        "tok-1"
    );
    assert_eq!(
        provider
            .get_token()
            .await
            .expect("t")
            .secret
            .expose_secret(),
        "tok-1"
    );
    assert_eq!(mock.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(950)).await;
    assert_eq!(
        provider
            .get_token()
            .await
            .expect("t")
            .secret
            .expose_secret(),
        "tok-2"
    );
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn an_already_expired_token_is_never_reused() {
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(0))).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    for n in 1..=3 {
        let token = provider.get_token().await.expect("token");
        assert_eq!(token.secret.expose_secret(), format!("tok-{n}"));
    }
    assert_eq!(mock.token_requests(), 3);
}

#[tokio::test]
async fn invalidate_forces_a_new_token() {
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(3599))).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let first = provider.get_token().await.expect("token");
    provider.invalidate().await;
    let second = provider.get_token().await.expect("token");
    assert_eq!(second.secret.expose_secret(), "tok-2");
    assert!(second.generation > first.generation);
    // A stale generation does not throw away the newer token.
    provider.invalidate_generation(first.generation).await;
    let third = provider.get_token().await.expect("token");
    assert_eq!(third.secret.expose_secret(), "tok-2");
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn the_secret_is_resolved_again_at_each_token_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    std::fs::write(&file, "first-secret\n").expect("write");
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(3599))).await;
    let profile = profile_for(
        &mock.base,
        SecretSource::Command(vec!["cat".into(), file.display().to_string()]),
    );
    let provider = TokenProvider::new(&profile, http()).expect("provider");
    provider.get_token().await.expect("token");
    std::fs::write(&file, "rotated-secret\n").expect("write");
    provider.invalidate().await;
    provider.get_token().await.expect("token");
    let secrets: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.form()["client_secret"].clone())
        .collect();
    assert_eq!(secrets, ["first-secret", "rotated-secret"]);
}

#[tokio::test]
async fn a_secret_that_cannot_be_resolved_sends_nothing() {
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(3599))).await;
    let profile = profile_for(
        &mock.base,
        SecretSource::Env("CORDON_TEST_SECRET_THAT_IS_NEVER_SET_7f3a".into()),
    );
    let provider = TokenProvider::new(&profile, http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(matches!(err, AuthError::SecretEnvMissing { .. }));
    assert_eq!(mock.token_requests(), 0);
}

// ---------------------------------------------------------------- Entra errors

async fn sign_in_error(status: u16, body: serde_json::Value) -> AuthError {
    let mock = Mock::start(move |_, _| json_response(status, body.clone())).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    let text = err.to_string();
    let debug = format!("{err:?}");
    assert!(!text.contains(SECRET) && !debug.contains(SECRET), "{text}");
    err
}

fn entra_error(error: &str, code: i64) -> serde_json::Value {
    json!({
        "error": error,
        "error_description": format!("AADSTS{code}: Something went wrong.\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2024-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2024-01-01 00:00:00Z",
        "trace_id": "0000",
        "correlation_id": "1111"
    })
}

#[tokio::test]
async fn entra_errors_map_to_advice() {
    assert_eq!(
        sign_in_error(401, entra_error("invalid_client", 7000215)).await,
        AuthError::WrongSecret
    );
    assert_eq!(
        sign_in_error(401, entra_error("invalid_client", 7000222)).await,
        AuthError::SecretExpired { code: 7000222 }
    );
    let err = sign_in_error(400, entra_error("unauthorized_client", 700016)).await;
    assert_eq!(
        err,
        AuthError::AppNotFound {
            client_id: CLIENT_ID.into(),
            tenant_id: TENANT.into()
        }
    );
    assert!(err.to_string().contains(CLIENT_ID));
    assert!(matches!(
        sign_in_error(400, entra_error("invalid_request", 90002)).await,
        AuthError::TenantNotFound { .. }
    ));
    let err = sign_in_error(400, entra_error("invalid_scope", 70011)).await;
    assert!(matches!(err, AuthError::InvalidScope { .. }));
    assert!(err.to_string().contains(SCOPE));
}

#[tokio::test]
async fn unknown_entra_errors_show_the_error_and_code() {
    let err = sign_in_error(400, entra_error("invalid_grant", 50126)).await;
    assert_eq!(
        err,
        AuthError::Refused {
            status: 400,
            error: "invalid_grant".into(),
            aadsts: Some(50126)
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("invalid_grant") && text.contains("AADSTS50126"),
        "{text}"
    );
}

#[tokio::test]
async fn non_json_sign_in_answers_are_explained() {
    let mock = Mock::start(|_, _| {
        text_response(502, "text/html", "<html><body>Bad Gateway</body></html>")
    })
    .await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(
        matches!(err, AuthError::UnexpectedResponse { status: 502, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("502"));
}

#[tokio::test]
async fn a_success_without_a_token_is_an_error() {
    let mock = Mock::start(|_, _| json_response(200, json!({"token_type": "Bearer"}))).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(
        matches!(err, AuthError::UnexpectedResponse { status: 200, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_authority_names_the_host() {
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let profile = profile_for(
        &format!("http://127.0.0.1:{port}"),
        SecretSource::Value(SecretString::from(SECRET)),
    );
    let provider = TokenProvider::new(&profile, http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(
        matches!(&err, AuthError::Unreachable { host, .. } if host == &format!("127.0.0.1:{port}")),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot reach the sign-in endpoint")
    );
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn plain_http_authority_is_refused_unless_loopback() {
    let mut profile = profile_for(
        "https://api.securitycenter.microsoft.com",
        SecretSource::Value(SecretString::from(SECRET)),
    );
    profile.authority = "http://login.microsoftonline.com".into();
    let err = TokenProvider::new(&profile, http()).expect_err("must fail");
    assert!(
        matches!(err, AuthError::InsecureAuthority { .. }),
        "{err:?}"
    );
    profile.authority = "http://localhost:9".into();
    assert!(TokenProvider::new(&profile, http()).is_ok());
}

#[tokio::test]
async fn debug_output_never_shows_secret_or_token() {
    let mock = Mock::start(|_, earlier| token_ok(earlier, json!(3599))).await;
    let profile = mock.profile();
    let provider = TokenProvider::new(&profile, http()).expect("provider");
    let token = provider.get_token().await.expect("token");
    for text in [
        format!("{profile:?}"),
        format!("{provider:?}"),
        format!("{token:?}"),
    ] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("tok-1"), "{text}");
    }
}

// ---------------------------------------------------------------- hostile endpoint

#[tokio::test]
async fn absurd_expires_in_never_panics_and_is_bounded() {
    let day = MAX_TOKEN_TTL;
    let hour = Duration::from_secs(3600);
    for (expires_in, lifetime) in [
        (json!(u64::MAX), day),
        (json!(1e300), day),
        (json!("18446744073709551615"), day),
        (json!("1e300"), day),
        (json!("99999999999999999999999999"), day),
        // Not a lifetime: the default hour.
        (json!(-5), hour),
        (json!("-5"), hour),
        (json!("NaN"), hour),
        (json!("soon"), hour),
        (json!(true), hour),
        // Ordinary values are kept.
        (json!("3599"), Duration::from_secs(3599)),
        (json!(1799.5), Duration::from_secs(1799)),
    ] {
        let value = expires_in.clone();
        let mock = Mock::start(move |_, earlier| token_ok(earlier, value.clone())).await;
        let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
        for _ in 0..3 {
            let token = provider.get_token().await.expect("token");
            assert_eq!(token.secret.expose_secret(), "tok-1", "{expires_in}");
        }
        assert_eq!(
            provider.token_lifetime().await,
            Some(lifetime),
            "{expires_in}"
        );
        assert_eq!(mock.token_requests(), 1, "{expires_in}");
    }
}

#[tokio::test]
async fn an_oversized_token_answer_is_an_error_read_once() {
    let mock = Mock::start(|_, _| endless_response(64 * 1024)).await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(
        matches!(err, AuthError::OversizedAnswer { status: 200, limit } if limit == MAX_TOKEN_BODY),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("oversized") && text.contains("1 MiB"),
        "{text}"
    );
    assert!(!text.contains(SECRET));
    assert_eq!(mock.token_requests(), 1);

    // An error answer is capped too.
    let mock = Mock::start(|_, _| {
        let mut response = declared_response(2 << 30);
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        response
    })
    .await;
    let provider = TokenProvider::new(&mock.profile(), http()).expect("provider");
    let err = provider.get_token().await.expect_err("must fail");
    assert!(
        matches!(err, AuthError::OversizedAnswer { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dripping_token_answer_ends_at_the_deadline() {
    let mock = Mock::start(|_, _| dripping_response(Duration::from_millis(20))).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(400))
        .build()
        .expect("client");
    let provider = TokenProvider::new(&mock.profile(), http).expect("provider");
    let started = std::time::Instant::now();
    let err = provider.get_token().await.expect_err("must fail");
    assert!(matches!(err, AuthError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
