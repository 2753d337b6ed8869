//! A scriptable loopback mock of the Entra token endpoint and the Defender API, for
//! tests/client_*.rs. Every request is recorded; a test's handler decides each answer
//! from the request and the ones before it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_core::config::{Auth, Cloud, Profile, SecretSource};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const TENANT: &str = "tenant-0001";
pub const CLIENT_ID: &str = "client-0001";
pub const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
pub const SECRET: &str = "s3cret-Value~never-print-me";

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The raw query string.
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn is_token(&self) -> bool {
        self.path.ends_with("/oauth2/v2.0/token")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// Decoded query parameters.
    pub fn query_map(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

/// Delay an answer (so single-flight and timeouts can be observed).
#[derive(Clone, Copy)]
struct Delay(Duration);

pub fn delayed(mut response: Response, delay: Duration) -> Response {
    response.extensions_mut().insert(Delay(delay));
    response
}

type Handler = dyn Fn(&Recorded, &[Recorded]) -> Response + Send + Sync;

pub struct Mock {
    pub base: String,
    pub port: u16,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    /// Serve on 127.0.0.1:0. `handler(request, earlier_requests)` returns the answer.
    pub async fn start(
        handler: impl Fn(&Recorded, &[Recorded]) -> Response + Send + Sync + 'static,
    ) -> Mock {
        let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let app = {
            let log = log.clone();
            Router::new().fallback(move |request: Request| {
                let log = log.clone();
                let handler = handler.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20)
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    let header_text = |name| {
                        parts
                            .headers
                            .get(name)
                            .and_then(|v: &HeaderValue| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let recorded = Recorded {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_string(),
                        query: parts.uri.query().map(str::to_string),
                        authorization: header_text(header::AUTHORIZATION),
                        content_type: header_text(header::CONTENT_TYPE),
                        body,
                    };
                    let response = {
                        let mut log = log.lock().expect("log");
                        let response = handler(&recorded, &log);
                        log.push(recorded);
                        response
                    };
                    if let Some(Delay(delay)) = response.extensions().get::<Delay>().copied() {
                        tokio::time::sleep(delay).await;
                    }
                    response
                }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Mock {
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").clone()
    }

    pub fn token_requests(&self) -> usize {
        self.requests().iter().filter(|r| r.is_token()).count()
    }

    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !r.is_token())
            .collect()
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    pub fn profile(&self) -> Profile {
        profile_for(&self.base, SecretSource::Value(SecretString::from(SECRET)))
    }
}

pub fn profile_for(base: &str, secret: SecretSource) -> Profile {
    Profile {
        name: "test".to_string(),
        tenant_id: TENANT.to_string(),
        client_id: CLIENT_ID.to_string(),
        auth: Auth::ClientSecret(secret),
        ca_file: None,
        proxy: None,
        cloud: Cloud::Commercial,
        api_base: base.to_string(),
        authority: base.to_string(),
        scope: SCOPE.to_string(),
        readonly: false,
        protected: false,
        protected_tags: Vec::new(),
        comment_rule: Default::default(),
        comment_template: None,
        color: None,
    }
}

pub fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn text_response(status: u16, content_type: &str, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// A v2 token answer; the token is `tok-N`, N = how many token requests came before + 1.
pub fn token_ok(earlier: &[Recorded], expires_in: Value) -> Response {
    let n = earlier.iter().filter(|r| r.is_token()).count() + 1;
    json_response(
        200,
        json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": 0, "access_token": format!("tok-{n}")}),
    )
}

/// The MDE error envelope.
pub fn mde_error(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"error": {"code": code, "message": message, "target": "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}}),
    )
}

/// A machine as real responses shape it: rbacGroupId a number, onboardingStatus
/// capitalised, riskScore the string "None", exposureLevel null.
pub fn machine_json(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "computerDnsName": name,
        "firstSeen": "2018-08-02T14:55:03.7791856Z",
        "lastSeen": "2024-01-02T03:04:05.1234567Z",
        "osPlatform": "Windows11",
        "version": "22H2",
        "osProcessor": "x64",
        "lastIpAddress": "172.17.230.209",
        "lastExternalIpAddress": "167.220.196.71",
        "osBuild": 22621,
        "healthStatus": "Active",
        "rbacGroupId": 140,
        "rbacGroupName": null,
        "riskScore": "None",
        "exposureLevel": null,
        "isAadJoined": true,
        "aadDeviceId": null,
        "machineTags": ["ward-3"],
        "onboardingStatus": "Onboarded",
        "ipAddresses": [{"ipAddress": "172.17.230.209", "macAddress": null, "type": "Ethernet", "operationalStatus": "Up"}]
    })
}

/// A machine action as real responses shape it, with a wrong-type `@odata.context`.
pub fn action_json(id: &str, kind: &str, status: &str, machine_id: Option<&str>) -> Value {
    json!({
        "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Machines/$entity",
        "id": id,
        "type": kind,
        "title": null,
        "requestor": "Defender for Endpoint API",
        "requestorComment": "ward 3 ransomware",
        "status": status,
        "machineId": machine_id,
        "computerDnsName": machine_id.map(|_| "ws-0042.contoso.com"),
        "creationDateTimeUtc": "2024-01-02T03:04:05.1234567Z",
        "lastUpdateDateTimeUtc": "2024-01-02T03:04:06Z",
        "cancellationRequestor": null,
        "cancellationComment": null,
        "cancellationDateTimeUtc": null,
        "errorHResult": 0,
        "scope": null,
        "externalId": null,
        "requestSource": "PublicApi",
        "relatedFileInfo": null,
        "commands": [],
        "troubleshootInfo": null
    })
}

/// A 200 whose body never ends: `chunk`-byte chunks of spaces, produced as they are
/// read (nothing is allocated up front), with no Content-Length (chunked).
pub fn endless_response(chunk: usize) -> Response {
    let piece = axum::body::Bytes::from(vec![b' '; chunk]);
    let stream = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(piece.clone()));
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("response")
}

/// A 200 that declares `declared` bytes and streams spaces for ever.
pub fn declared_response(declared: u64) -> Response {
    let mut response = endless_response(64 * 1024);
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&declared.to_string()).expect("length"),
    );
    response
}

/// A 200 whose body drips one byte every `every`, for ever.
pub fn dripping_response(every: Duration) -> Response {
    let stream = futures::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some((
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b" ")),
            (),
        ))
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("response")
}

/// A 429 with this `Retry-After` text.
pub fn throttled(retry_after: &str) -> Response {
    let mut response = mde_error(429, "TooManyRequests", "slow down");
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(retry_after).expect("header"),
    );
    response
}
