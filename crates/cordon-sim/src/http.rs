//! The simulator's HTTP face (axum): routes, bearer-token checks, quotas and faults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use super::engine::{Fault, RouteKind, SimError, Simulator};
use super::identity::{DEVICE_LOGIN_PAGE, EntraError, Principal};
use cordon_core::api::models::{ErrorBody, ErrorEnvelope, IsolationType, ODataPage};

/// A simulator listening on loopback.
#[derive(Debug, Clone)]
pub struct RunningSim {
    pub addr: SocketAddr,
    /// e.g. `http://127.0.0.1:41234`
    pub base_url: String,
}

/// Bind `listen` (port 0 for an ephemeral one), start serving, and return once
/// listening. The server stops when `cancel` fires.
pub async fn serve(
    sim: Simulator,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> std::io::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(sim);
    spawn_server(listener, app, cancel);
    Ok(RunningSim {
        addr,
        base_url: format!("http://{addr}"),
    })
}

/// The simulator's own CA (its key was discarded once it signed the server
/// certificate): what a profile's `ca_file` names to trust `serve_tls`.
pub const SIM_CA_PEM: &str = include_str!("../assets/tls/ca.pem");
const SIM_SERVER_CERT_PEM: &str = include_str!("../assets/tls/server.pem");
const SIM_SERVER_KEY_PEM: &str = include_str!("../assets/tls/server.key");

/// As `serve`, over HTTPS with a certificate for 127.0.0.1 signed by the simulator's
/// own CA ([`SIM_CA_PEM`]): a stand-in for a service behind a TLS-inspecting proxy.
pub async fn serve_tls(
    sim: Simulator,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> std::io::Result<RunningSim> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<rustls_pki_types::CertificateDer<'static>> =
        rustls_pki_types::CertificateDer::pem_slice_iter(SIM_SERVER_CERT_PEM.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(std::io::Error::other)?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(SIM_SERVER_KEY_PEM.as_bytes())
        .map_err(std::io::Error::other)?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(std::io::Error::other)?;
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    let addr = tcp.local_addr()?;
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    };
    sim.set_https();
    let app = router(sim);
    spawn_server(listener, app, cancel);
    Ok(RunningSim {
        addr,
        base_url: format!("https://{addr}"),
    })
}

/// Serve `app` on `listener` until `cancel` fires.
fn spawn_server<L>(listener: L, app: Router, cancel: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that does not trust the CA ends its handshake: wait for the next.
            match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                self.acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(tls)) => return (tls, addr),
                _ => continue,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route("/devicelogin", get(device_login_page).post(device_login))
        .route("/metadata/identity/oauth2/token", get(imds_token))
        .route("/msi/token", get(app_service_token))
        .route("/api/machines", get(list_machines))
        .route("/api/machines/{id}", get(get_machine))
        .route("/api/machines/{id}/isolate", post(isolate))
        .route("/api/machines/{id}/unisolate", post(unisolate))
        .route("/api/machineactions", get(list_actions))
        .route("/api/machineactions/{id}", get(get_action))
        .route("/api/machineactions/{id}/cancel", post(cancel_action))
        .with_state(Arc::new(sim))
}

type Shared = Arc<Simulator>;

fn envelope(e: &SimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: e.code.to_string(),
            message: e.message.clone(),
            target: Some(format!("{:08x}-sim", rand::random::<u32>())),
        },
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A 200 whose JSON stops half-way.
fn garbage() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"@odata.context\":\"x\",\"value\":[{\"id\":\"",
    )
        .into_response()
}

/// Headers, a first chunk, then the connection breaks.
fn dropped() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"value\":[")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ];
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

fn fault_response(fault: Fault) -> Option<Response> {
    match fault {
        Fault::None => None,
        Fault::ServerError => Some(envelope(&SimError {
            status: 500,
            code: "InternalServerError",
            message: "Simulated server error".into(),
            retry_after: None,
        })),
        Fault::Garbage => Some(garbage()),
        Fault::Drop => Some(dropped()),
    }
}

/// Latency, bearer token and quota: who the token names, on success.
async fn guard(
    sim: &Simulator,
    headers: &HeaderMap,
    kind: RouteKind,
) -> Result<Principal, Response> {
    let latency = sim.config().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(principal) = sim.check_token(token) else {
        return Err(envelope(&SimError {
            status: 401,
            code: "Unauthorized",
            message: "Authorization token is missing, invalid or expired".into(),
            retry_after: None,
        }));
    };
    sim.admit(&principal.quota_key(), kind)
        .map_err(|e| envelope(&e))?;
    Ok(principal)
}

#[derive(serde::Deserialize)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    client_assertion_type: String,
    #[serde(default)]
    client_assertion: String,
    #[serde(default)]
    device_code: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    scope: String,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn token(
    State(sim): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let latency = sim.config().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let app_only = |r: Result<(String, u64), EntraError>| match r {
        Ok((token, ttl)) => json_response(
            StatusCode::OK,
            &serde_json::json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token}),
        ),
        Err((status, error, code, text)) => entra_error(status, error, code, text),
    };
    let delegated = |r: Result<(String, u64, String), EntraError>| match r {
        Ok((token, ttl, refresh)) => json_response(
            StatusCode::OK,
            &serde_json::json!({"token_type": "Bearer", "scope": "https://api.securitycenter.microsoft.com/Machine.Isolate https://api.securitycenter.microsoft.com/Machine.Read", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token, "refresh_token": refresh}),
        ),
        Err((status, error, code, text)) => entra_error(status, error, code, text),
    };
    match form.grant_type.as_str() {
        "client_credentials" if form.client_assertion_type == JWT_BEARER => {
            app_only(sim.issue_for_assertion(
                &tenant,
                &form.client_id,
                &form.client_assertion,
                &form.scope,
            ))
        }
        "client_credentials" => {
            app_only(sim.issue_token(&tenant, &form.client_id, &form.client_secret, &form.scope))
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            delegated(sim.poll_device_code(&tenant, &form.client_id, &form.device_code))
        }
        "refresh_token" => {
            delegated(sim.redeem_refresh_token(&tenant, &form.client_id, &form.refresh_token))
        }
        _ => entra_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.".into(),
        ),
    }
}

#[derive(serde::Deserialize)]
struct DeviceCodeForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    scope: String,
}

async fn device_code(
    State(sim): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DeviceCodeForm>,
) -> Response {
    match sim.start_device_code(&tenant, &form.client_id, &form.scope) {
        Ok((device_code, user_code)) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            let uri = format!("{}://{host}/devicelogin", sim.scheme());
            json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": uri,
                    "expires_in": sim.config().device_code_ttl.as_secs(),
                    "interval": 1,
                    "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
                }),
            )
        }
        Err((status, error, code, text)) => entra_error(status, error, code, text),
    }
}

async fn device_login_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DEVICE_LOGIN_PAGE,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct DeviceLoginForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    decision: String,
}

/// The person's answer at the sign-in page: approve as `user`, or decline.
async fn device_login(State(sim): State<Shared>, Form(form): Form<DeviceLoginForm>) -> Response {
    let user = (form.decision != "decline")
        .then_some(form.user.trim())
        .filter(|u| !u.is_empty());
    if sim.decide_device_code(&form.code, user) {
        (StatusCode::OK, "Done: you can close this page.").into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            "No sign-in is waiting for that code.",
        )
            .into_response()
    }
}

#[derive(serde::Deserialize)]
struct ManagedIdentityQuery {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    client_id: Option<String>,
}

fn managed_identity_answer(sim: &Simulator, q: &ManagedIdentityQuery) -> Response {
    if q.resource.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"}),
        );
    }
    let (token, ttl) = sim.issue_managed_identity(q.client_id.as_deref());
    let on = chrono::Utc::now().timestamp() + i64::try_from(ttl).unwrap_or(3600);
    // As IMDS answers: numbers as strings.
    json_response(
        StatusCode::OK,
        &serde_json::json!({"access_token": token, "expires_in": ttl.to_string(), "expires_on": on.to_string(), "resource": q.resource, "token_type": "Bearer"}),
    )
}

/// IMDS (`AZURE_POD_IDENTITY_AUTHORITY_HOST` points here): needs `Metadata: true`.
async fn imds_token(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ManagedIdentityQuery>,
) -> Response {
    if headers.get("Metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    managed_identity_answer(&sim, &q)
}

/// App Service / Container Apps (`IDENTITY_ENDPOINT` points here): needs the
/// `X-IDENTITY-HEADER` secret.
async fn app_service_token(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ManagedIdentityQuery>,
) -> Response {
    let secret = headers
        .get("X-IDENTITY-HEADER")
        .and_then(|v| v.to_str().ok());
    if secret != Some(sim.config().identity_header.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            "X-IDENTITY-HEADER is missing or wrong",
        )
            .into_response();
    }
    managed_identity_answer(&sim, &q)
}

fn entra_error(status: u16, error: &str, code: u32, text: String) -> Response {
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: 2026-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000",
    });
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        &body,
    )
}

fn next_link(
    scheme: &str,
    headers: &HeaderMap,
    path: &str,
    q: &HashMap<String, String>,
    skip: usize,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut query = String::new();
    if let Some(f) = q.get("$filter") {
        query.push_str("$filter=");
        query.extend(url::form_urlencoded::byte_serialize(f.as_bytes()));
        query.push('&');
    }
    if let Some(t) = q.get("$top") {
        query.push_str(&format!("$top={t}&"));
    }
    query.push_str(&format!("$skip={skip}"));
    format!("{scheme}://{host}{path}?{query}")
}

async fn list_machines(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&sim, &headers, RouteKind::ListMachines).await {
        return r;
    }
    if let Some(r) = fault_response(sim.roll_fault()) {
        return r;
    }
    match sim.list_machines(
        q.get("$filter").map(String::as_str),
        q.get("$top").map(String::as_str),
        q.get("$skip").map(String::as_str),
    ) {
        Ok((value, next)) => json_response(
            StatusCode::OK,
            &ODataPage {
                context: Some(format!(
                    "http://{}/api/$metadata#Machines",
                    headers
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("sim")
                )),
                value,
                next_link: next
                    .map(|skip| next_link(sim.scheme(), &headers, "/api/machines", &q, skip)),
            },
        ),
        Err(e) => envelope(&e),
    }
}

async fn get_machine(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&sim, &headers, RouteKind::GetMachine).await {
        return r;
    }
    if let Some(r) = fault_response(sim.roll_fault()) {
        return r;
    }
    match sim.get_machine(&id) {
        Ok(m) => json_response(StatusCode::OK, &m),
        Err(e) => envelope(&e),
    }
}

fn parse_body(body: &Bytes) -> Result<serde_json::Value, SimError> {
    serde_json::from_slice(body).map_err(|e| SimError {
        status: 400,
        code: "InvalidRequestBody",
        message: format!("The request body is not valid JSON: {e}"),
        retry_after: None,
    })
}

/// Run a write with the fault dice: a faulted write sometimes takes effect before its
/// answer breaks (the ambiguous case a client must reconcile), sometimes not at all.
fn faulted_write(
    sim: &Simulator,
    status: StatusCode,
    act: impl FnOnce() -> Result<cordon_core::api::models::MachineAction, SimError>,
) -> Response {
    let fault = sim.roll_fault();
    if fault != Fault::None {
        if sim.coin() {
            let _ = act();
        }
        return fault_response(fault)
            .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    match act() {
        Ok(a) => json_response(status, &a),
        Err(e) => envelope(&e),
    }
}

async fn isolate(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let requestor = match guard(&sim, &headers, RouteKind::Isolate).await {
        Ok(principal) => principal.requestor(),
        Err(r) => return r,
    };
    let (comment, kind): (String, IsolationType) =
        match parse_body(&body).and_then(|v| Simulator::parse_isolate_body(&v)) {
            Ok(x) => x,
            Err(e) => return envelope(&e),
        };
    let answer = faulted_write(&sim, StatusCode::CREATED, || {
        sim.isolation(&id, &comment, Some(kind), &requestor)
    });
    held(&sim, answer).await
}

/// The answer to a write, after the configured hold (the action already exists).
async fn held(sim: &Simulator, answer: Response) -> Response {
    let hold = sim.config().write_hold;
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    answer
}

async fn unisolate(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let requestor = match guard(&sim, &headers, RouteKind::Unisolate).await {
        Ok(principal) => principal.requestor(),
        Err(r) => return r,
    };
    let comment = match parse_body(&body).and_then(|v| Simulator::parse_comment(&v)) {
        Ok(c) => c,
        Err(e) => return envelope(&e),
    };
    let answer = faulted_write(&sim, StatusCode::CREATED, || {
        sim.isolation(&id, &comment, None, &requestor)
    });
    held(&sim, answer).await
}

async fn list_actions(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&sim, &headers, RouteKind::ListActions).await {
        return r;
    }
    if let Some(r) = fault_response(sim.roll_fault()) {
        return r;
    }
    match sim.list_actions(
        q.get("$filter").map(String::as_str),
        q.get("$top").map(String::as_str),
        q.get("$skip").map(String::as_str),
    ) {
        Ok((value, next)) => json_response(
            StatusCode::OK,
            &ODataPage {
                context: Some(
                    "https://api.securitycenter.microsoft.com/api/$metadata#MachineActions".into(),
                ),
                value,
                next_link: next
                    .map(|skip| next_link(sim.scheme(), &headers, "/api/machineactions", &q, skip)),
            },
        ),
        Err(e) => envelope(&e),
    }
}

async fn get_action(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&sim, &headers, RouteKind::GetAction).await {
        return r;
    }
    if let Some(r) = fault_response(sim.roll_fault()) {
        return r;
    }
    match sim.get_action(&id) {
        Ok(a) => json_response(StatusCode::OK, &a),
        Err(e) => envelope(&e),
    }
}

async fn cancel_action(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let requestor = match guard(&sim, &headers, RouteKind::Cancel).await {
        Ok(principal) => principal.requestor(),
        Err(r) => return r,
    };
    let comment = match parse_body(&body).and_then(|v| Simulator::parse_comment(&v)) {
        Ok(c) => c,
        Err(e) => return envelope(&e),
    };
    faulted_write(&sim, StatusCode::OK, || {
        sim.cancel(&id, &comment, &requestor)
    })
}
