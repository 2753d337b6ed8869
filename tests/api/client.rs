//! MdeClient against a loopback mock of the Defender API: paths, bodies, the quirks of
//! docs/mde-api.md §7, retries, 401 replay, 429 waits, and the transport safety rules.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client_support::*;
use cordon_core::api::client::{ClientOptions, MAX_API_BODY, MAX_RETRY_AFTER, MdeClient};
use cordon_core::api::models::{ActionStatus, ActionType};
use cordon_core::api::{
    ActionFilter, ApiError, DefenderApi, IsolationType, MAX_PAGES, Machine, PageRequest,
    PagingFault, all_actions, all_machines,
};
use cordon_core::auth::AuthError;
use cordon_core::worker::{RateLimited, RateLimits};
use serde_json::{Value, json};

/// Fast retries, so the tests stay quick.
fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        ..ClientOptions::default()
    }
}

/// A mock that answers token requests and hands API requests to `api`.
async fn api_mock(
    api: impl Fn(&Recorded, &[Recorded]) -> axum::response::Response + Send + Sync + 'static,
) -> Mock {
    Mock::start(move |req, earlier| {
        if req.is_token() {
            token_ok(earlier, json!(3599))
        } else {
            let earlier_api: Vec<Recorded> =
                earlier.iter().filter(|r| !r.is_token()).cloned().collect();
            api(req, &earlier_api)
        }
    })
    .await
}

fn client(mock: &Mock) -> MdeClient {
    MdeClient::new(&mock.profile(), options()).expect("client")
}

fn page(values: Vec<Value>, next: Option<String>) -> Value {
    let mut body = json!({
        "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Machines",
        "value": values,
    });
    if let Some(next) = next {
        body["@odata.nextLink"] = json!(next);
    }
    body
}

// ---------------------------------------------------------------- paths and bodies

#[tokio::test]
async fn list_machines_sends_filter_top_and_bearer_token() {
    let mock = api_mock(|_, _| {
        json_response(
            200,
            page(vec![machine_json("a1", "ws-1.contoso.com")], None),
        )
    })
    .await;
    let client = client(&mock);
    let page = client
        .machines_page::<Machine>(PageRequest::First {
            filter: Some("startswith(computerDnsName,'ws 1')".into()),
            top: 500,
        })
        .await
        .expect("page");
    assert_eq!(page.value.len(), 1);

    let requests = mock.api_requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/api/machines");
    let query = req.query_map();
    assert_eq!(query["$filter"], "startswith(computerDnsName,'ws 1')");
    assert_eq!(query["$top"], "500");
    // Spaces go as %20, and `$` stays literal, as OData writes it.
    let raw = req.query.as_deref().unwrap_or("");
    assert!(raw.starts_with("$filter=") && !raw.contains('+'), "{raw}");
    assert_eq!(req.authorization.as_deref(), Some("Bearer tok-1"));
}

#[tokio::test]
async fn get_machine_encodes_the_id_or_name_as_one_path_segment() {
    let mock = api_mock(|_, _| json_response(200, machine_json("a1", "ws 1/x"))).await;
    let client = client(&mock);
    client.get_machine("ws 1/../x?y#z").await.expect("machine");
    let req = &mock.api_requests()[0];
    assert_eq!(req.path, "/api/machines/ws%201%2F..%2Fx%3Fy%23z");
    assert_eq!(req.query, None);
}

#[tokio::test]
async fn isolate_posts_pascal_case_body_and_accepts_201() {
    let mock =
        api_mock(|_, _| json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1"))))
            .await;
    let client = client(&mock);
    let action = client
        .isolate("a1", "ward 3 ransomware", IsolationType::Selective)
        .await
        .expect("isolate");
    assert_eq!(action.id, "act-1");
    assert_eq!(action.action_type, ActionType::Isolate);
    assert_eq!(action.status, ActionStatus::Pending);

    let req = &mock.api_requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/machines/a1/isolate");
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    // Exact keys and casing: the service's parameters are case-sensitive.
    assert_eq!(
        req.json(),
        json!({"Comment": "ward 3 ransomware", "IsolationType": "Selective"})
    );
}

#[tokio::test]
async fn isolation_types_keep_their_exact_casing() {
    let mock =
        api_mock(|_, _| json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1"))))
            .await;
    let client = client(&mock);
    for kind in IsolationType::ALL {
        client.isolate("a1", "c", kind).await.expect("isolate");
    }
    let sent: Vec<String> = mock
        .api_requests()
        .iter()
        .map(|r| r.json()["IsolationType"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(sent, ["Full", "Selective", "UnManagedDevice"]);
}

#[tokio::test]
async fn unisolate_posts_comment_and_accepts_201() {
    let mock = api_mock(|_, _| {
        json_response(
            201,
            action_json("act-2", "Unisolate", "Pending", Some("a1")),
        )
    })
    .await;
    let action = client(&mock)
        .unisolate("a1", "cleaned")
        .await
        .expect("unisolate");
    assert_eq!(action.action_type, ActionType::Unisolate);
    let req = &mock.api_requests()[0];
    assert_eq!(req.path, "/api/machines/a1/unisolate");
    assert_eq!(req.json(), json!({"Comment": "cleaned"}));
}

#[tokio::test]
async fn cancel_posts_comment_and_accepts_200() {
    let mock = api_mock(|_, _| {
        json_response(
            200,
            action_json("act-3", "Isolate", "Cancelled", Some("a1")),
        )
    })
    .await;
    let action = client(&mock)
        .cancel_action("act-3", "wrong machine")
        .await
        .expect("cancel");
    assert_eq!(action.status, ActionStatus::Cancelled);
    let req = &mock.api_requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/machineactions/act-3/cancel");
    assert_eq!(req.json(), json!({"Comment": "wrong machine"}));
}

#[tokio::test]
async fn actions_are_listed_with_the_filter_and_fetched_by_id() {
    let mock = api_mock(|req, _| {
        if req.path == "/api/machineactions" {
            json_response(
                200,
                json!({"value": [action_json("act-1", "Isolate", "Succeeded", Some("a1"))]}),
            )
        } else {
            json_response(
                200,
                action_json("act-1", "Isolate", "Succeeded", Some("a1")),
            )
        }
    })
    .await;
    let client = client(&mock);
    let filter = ActionFilter {
        machine_id: Some("a1".into()),
        types: vec!["Isolate".into(), "Unisolate".into()],
        ..ActionFilter::default()
    };
    let actions = all_actions(&client, &filter).await.expect("actions");
    assert_eq!(actions.len(), 1);
    client.get_action("act-1").await.expect("action");

    let requests = mock.api_requests();
    assert_eq!(requests[0].path, "/api/machineactions");
    assert_eq!(
        requests[0].query_map()["$filter"],
        filter.to_odata().expect("filter")
    );
    // The largest page, explicitly: the default page size is not documented.
    assert_eq!(requests[0].query_map()["$top"], "10000");
    assert_eq!(requests[1].path, "/api/machineactions/act-1");
}

// ---------------------------------------------------------------- payload quirks (§7)

#[tokio::test]
async fn machine_quirks_are_absorbed() {
    let mut lowercase = machine_json("b2", "ws-2");
    lowercase
        .as_object_mut()
        .expect("object")
        .remove("onboardingStatus");
    lowercase["onboardingstatus"] = json!("onboarded");
    lowercase["riskScore"] = json!(null);
    lowercase["exposureLevel"] = json!("None");
    lowercase["rbacGroupId"] = json!("75");
    let body = page(vec![machine_json("a1", "ws-1"), lowercase], None);
    let mock = api_mock(move |_, _| json_response(200, body.clone())).await;
    let machines = all_machines(&client(&mock), None).await.expect("machines");

    let (a, b) = (&machines[0], &machines[1]);
    // rbacGroupId: a number in real data, a string in the docs.
    assert_eq!(a.rbac_group_id.as_deref(), Some("140"));
    assert_eq!(b.rbac_group_id.as_deref(), Some("75"));
    // onboardingStatus: both spellings of key and value arrive.
    assert_eq!(a.onboarding_status.as_deref(), Some("Onboarded"));
    assert_eq!(b.onboarding_status.as_deref(), Some("onboarded"));
    // "None" is a value, distinct from null.
    assert_eq!(a.risk_score.as_deref(), Some("None"));
    assert_eq!(b.risk_score, None);
    assert_eq!(a.exposure_level, None);
    assert_eq!(b.exposure_level.as_deref(), Some("None"));
    assert_eq!(a.aad_device_id, None);
}

#[tokio::test]
async fn action_quirks_are_absorbed() {
    let mut docs_shaped = action_json("act-2", "Unisolate", "InProgress", Some("a1"));
    let object = docs_shaped.as_object_mut().expect("object");
    object.remove("lastUpdateDateTimeUtc");
    object.insert("lastUpdateTimeUtc".into(), json!("2024-02-03T04:05:06Z"));
    let offboard = action_json("act-3", "Offboard", "Succeeded", None);
    let portal = action_json("act-4", "SomethingNew", "Queued", Some("a1"));
    let body = json!({
        // The wrong type on purpose: @odata.context is never used to dispatch.
        "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Machines",
        "value": [action_json("act-1", "Isolate", "Succeeded", Some("a1")), docs_shaped, offboard, portal]
    });
    let mock = api_mock(move |_, _| json_response(200, body.clone())).await;
    let actions = all_actions(&client(&mock), &ActionFilter::default())
        .await
        .expect("actions");
    assert_eq!(actions.len(), 4);
    // scope is null on real isolate actions.
    assert_eq!(actions[0].scope, None);
    assert_eq!(
        actions[1].last_update_date_time_utc.as_deref(),
        Some("2024-02-03T04:05:06Z")
    );
    assert_eq!(actions[2].machine_id, None);
    assert_eq!(actions[2].computer_dns_name, None);
    assert_eq!(
        actions[3].action_type,
        ActionType::Other("SomethingNew".into())
    );
    assert_eq!(actions[3].status, ActionStatus::Other("Queued".into()));
    assert!(!actions[3].status.is_final());
}

// ---------------------------------------------------------------- 404, paging

#[tokio::test]
async fn list_machines_404_is_an_empty_list() {
    let mock = api_mock(|_, _| mde_error(404, "NotFound", "No recent machines")).await;
    let machines = all_machines(&client(&mock), None).await.expect("empty");
    assert!(machines.is_empty());
    assert_eq!(mock.api_requests().len(), 1);
}

#[tokio::test]
async fn an_html_404_on_the_list_stays_an_error() {
    // A wrong host or path answers with a web page, not the API's envelope.
    let mock = api_mock(|_, _| text_response(404, "text/html", "<h1>Not Found</h1>")).await;
    let err = all_machines(&client(&mock), None)
        .await
        .expect_err("must fail");
    assert_eq!(err.code(), "Http404");
}

#[tokio::test]
async fn get_machine_404_is_not_found() {
    let mock =
        api_mock(|_, _| mde_error(404, "ResourceNotFound", "Machine 123123123 was not found"))
            .await;
    let err = client(&mock)
        .get_machine("123123123")
        .await
        .expect_err("must fail");
    assert!(err.is_not_found());
    assert_eq!(err.code(), "ResourceNotFound");
}

#[tokio::test]
async fn next_links_are_followed_to_the_end() {
    let mock = Arc::new(std::sync::OnceLock::<String>::new());
    let base = mock.clone();
    let server = api_mock(move |req, _| {
        let base = base.get().expect("base set");
        let skip = req.query_map().get("$skip").cloned();
        match skip.as_deref() {
            None => json_response(
                200,
                page(
                    vec![machine_json("m1", "a"), machine_json("m2", "b")],
                    Some(format!("{base}/api/machines?$top=2&$skip=2")),
                ),
            ),
            Some("2") => json_response(
                200,
                page(
                    vec![machine_json("m3", "c"), machine_json("m4", "d")],
                    Some(format!("{base}/api/machines?$top=2&$skip=4")),
                ),
            ),
            _ => json_response(200, page(vec![machine_json("m5", "e")], None)),
        }
    })
    .await;
    mock.set(server.base.clone()).expect("set once");
    let machines = all_machines(&client(&server), None).await.expect("all");
    let ids: Vec<&str> = machines.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5"]);
    let requests = server.api_requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer tok-1"))
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    for foreign in [
        "https://evil.example.com/api/machines?$skip=1".to_string(),
        // Same host, other port: a different origin too.
        "http://127.0.0.1:1/api/machines?$skip=1".to_string(),
        // Protocol-relative: resolves to another host.
        "//evil.example.com/api/machines".to_string(),
    ] {
        let link = foreign.clone();
        let mock = api_mock(move |_, _| {
            json_response(200, page(vec![machine_json("m1", "a")], Some(link.clone())))
        })
        .await;
        let err = all_machines(&client(&mock), None)
            .await
            .expect_err("must fail");
        // The service's fault (exit 1), not a usage error.
        assert!(
            matches!(err, ApiError::Paging(PagingFault::ForeignHost { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("nextLink"), "{err}");
        assert_eq!(mock.api_requests().len(), 1, "{foreign}");
    }
}

#[tokio::test]
async fn a_foreign_next_link_on_actions_is_refused() {
    let mock = api_mock(|_, _| {
        json_response(
            200,
            json!({"value": [], "@odata.nextLink": "https://evil.example.com/api/machineactions?$skip=1"}),
        )
    })
    .await;
    let err = all_actions(&client(&mock), &ActionFilter::default())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Paging(PagingFault::ForeignHost { .. })),
        "{err:?}"
    );
    assert_eq!(mock.api_requests().len(), 1);
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn mde_error_envelope_is_parsed_by_code() {
    let mock = api_mock(|_, _| {
        mde_error(
            400,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        )
    })
    .await;
    let err = client(&mock)
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect_err("must fail");
    assert!(err.is_already_active());
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_ambiguous());
    match err {
        ApiError::Service { body, .. } => {
            assert_eq!(
                body.target.as_deref(),
                Some("43f4cb08-8fac-4b65-9db1-745c2ae65f3a")
            );
        }
        other => panic!("expected Service, got {other:?}"),
    }
}

#[tokio::test]
async fn error_messages_from_the_service_are_sanitized() {
    let mock =
        api_mock(|_, _| mde_error(403, "Forbidden", "no\u{1b}]0;pwned\u{7} access\u{202e}")).await;
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    let text = err.explain();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert_eq!(err.code(), "Forbidden");
}

#[tokio::test]
async fn html_error_on_a_write_is_an_ambiguous_service_error() {
    let mock = api_mock(|_, _| {
        text_response(
            503,
            "text/html",
            "<html><body><h1>Service Unavailable</h1></body></html>",
        )
    })
    .await;
    let err = client(&mock)
        .unisolate("a1", "c")
        .await
        .expect_err("must fail");
    assert_eq!(err.code(), "Http503");
    assert!(err.to_string().contains("Service Unavailable"), "{err}");
    assert!(!err.to_string().contains('<'));
    assert!(err.is_ambiguous());
    assert_eq!(mock.count("POST", "/api/machines/a1/unisolate"), 1);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn a_read_is_retried_after_a_500() {
    let mock = api_mock(|_, earlier| {
        if earlier.is_empty() {
            mde_error(500, "InternalServerError", "boom")
        } else {
            json_response(200, machine_json("a1", "ws-1"))
        }
    })
    .await;
    let machine = client(&mock).get_machine("a1").await.expect("retried");
    assert_eq!(machine.id, "a1");
    assert_eq!(mock.count("GET", "/api/machines/a1"), 2);
}

#[tokio::test]
async fn a_read_is_retried_after_a_garbage_body() {
    let mock = api_mock(|_, earlier| {
        if earlier.is_empty() {
            text_response(200, "application/json", "{\"id\": \"a1\", \"comp")
        } else {
            json_response(200, machine_json("a1", "ws-1"))
        }
    })
    .await;
    client(&mock).get_machine("a1").await.expect("retried");
    assert_eq!(mock.api_requests().len(), 2);
}

#[tokio::test]
async fn reads_give_up_after_max_attempts() {
    let mock = api_mock(|_, _| mde_error(503, "ServiceUnavailable", "down")).await;
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    assert_eq!(err.code(), "ServiceUnavailable");
    assert_eq!(mock.api_requests().len(), 4);
}

#[tokio::test]
async fn a_client_error_on_a_read_is_not_retried() {
    let mock = api_mock(|_, _| mde_error(400, "ODataError", "bad filter")).await;
    let err = client(&mock)
        .machines_page::<Machine>(PageRequest::First {
            filter: Some("nonsense".into()),
            top: 10,
        })
        .await
        .expect_err("must fail");
    assert_eq!(err.code(), "ODataError");
    assert_eq!(mock.api_requests().len(), 1);
}

#[tokio::test]
async fn a_write_is_not_retried_after_a_500() {
    let mock = api_mock(|_, _| mde_error(500, "InternalServerError", "boom")).await;
    let err = client(&mock)
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect_err("must fail");
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 1);
}

#[tokio::test]
async fn a_write_with_a_garbage_2xx_body_is_ambiguous_and_not_retried() {
    let mock = api_mock(|_, _| text_response(201, "application/json", "<html>oops")).await;
    let err = client(&mock)
        .cancel_action("act-1", "c")
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::Decode(_)), "{err:?}");
    assert!(err.is_ambiguous());
    assert_eq!(mock.count("POST", "/api/machineactions/act-1/cancel"), 1);
}

#[tokio::test]
async fn a_write_that_times_out_is_ambiguous_and_not_retried() {
    let mock = api_mock(|_, _| {
        delayed(
            json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1"))),
            Duration::from_secs(3),
        )
    })
    .await;
    let client = MdeClient::new(
        &mock.profile(),
        ClientOptions {
            request_timeout: Duration::from_millis(300),
            ..options()
        },
    )
    .expect("client");
    let err = client
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.is_ambiguous());
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 1);
}

#[tokio::test]
async fn a_read_that_times_out_is_retried() {
    let mock = api_mock(|_, earlier| {
        let answer = json_response(200, machine_json("a1", "ws-1"));
        if earlier.is_empty() {
            delayed(answer, Duration::from_secs(3))
        } else {
            answer
        }
    })
    .await;
    let client = MdeClient::new(
        &mock.profile(),
        ClientOptions {
            request_timeout: Duration::from_millis(300),
            ..options()
        },
    )
    .expect("client");
    client.get_machine("a1").await.expect("second attempt");
    assert_eq!(mock.api_requests().len(), 2);
}

// ---------------------------------------------------------------- tokens, 401

#[tokio::test]
async fn one_token_serves_many_calls() {
    let mock = api_mock(|_, _| json_response(200, machine_json("a1", "ws-1"))).await;
    let client = client(&mock);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_machine("a1").await })
        })
        .collect();
    for call in calls {
        call.await.expect("join").expect("machine");
    }
    for _ in 0..5 {
        client.get_machine("a1").await.expect("machine");
    }
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(client.request_count(), 15);
}

#[tokio::test]
async fn a_401_refreshes_the_token_and_replays_once() {
    let mock = api_mock(|req, _| {
        if req.authorization.as_deref() == Some("Bearer tok-1") {
            mde_error(401, "Unauthorized", "token expired")
        } else {
            json_response(200, machine_json("a1", "ws-1"))
        }
    })
    .await;
    let client = client(&mock);
    client.get_machine("a1").await.expect("replayed");
    assert_eq!(mock.token_requests(), 2);
    let auth: Vec<Option<String>> = mock
        .api_requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer tok-1".to_string()),
            Some("Bearer tok-2".to_string())
        ]
    );
}

#[tokio::test]
async fn a_401_on_a_write_is_replayed_once_with_a_fresh_token() {
    let mock = api_mock(|req, _| {
        if req.authorization.as_deref() == Some("Bearer tok-1") {
            mde_error(401, "Unauthorized", "token expired")
        } else {
            json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1")))
        }
    })
    .await;
    client(&mock)
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect("replayed");
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 2);
}

#[tokio::test]
async fn a_second_401_is_an_auth_error() {
    let mock = api_mock(|_, _| mde_error(401, "Unauthorized", "no")).await;
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Auth(AuthError::TokenRejected { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("permissions"), "{err}");
    assert!(!err.is_ambiguous());
    assert_eq!(mock.api_requests().len(), 2);
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn a_sign_in_failure_surfaces_as_an_auth_error_without_calling_the_api() {
    let mock = Mock::start(|req, _| {
        if req.is_token() {
            json_response(
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
            )
        } else {
            json_response(200, machine_json("a1", "ws-1"))
        }
    })
    .await;
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Auth(AuthError::WrongSecret)),
        "{err:?}"
    );
    assert!(!err.to_string().contains(SECRET));
    assert!(mock.api_requests().is_empty());
}

// ---------------------------------------------------------------- 429

#[tokio::test]
async fn retry_after_is_honoured_for_reads() {
    let mock = api_mock(|_, earlier| {
        if earlier.is_empty() {
            let mut response = mde_error(429, "TooManyRequests", "slow down");
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        } else {
            json_response(200, machine_json("a1", "ws-1"))
        }
    })
    .await;
    let started = Instant::now();
    client(&mock)
        .get_machine("a1")
        .await
        .expect("after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.api_requests().len(), 2);
}

#[tokio::test]
async fn a_throttled_write_is_replayed_after_retry_after() {
    let mock = api_mock(|_, earlier| {
        if earlier.is_empty() {
            let mut response = axum::response::IntoResponse::into_response(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
            );
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            response
        } else {
            json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1")))
        }
    })
    .await;
    let started = Instant::now();
    client(&mock)
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect("replayed after 429");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 2);
}

#[tokio::test]
async fn throttling_longer_than_the_budget_returns_throttled() {
    // No Retry-After: the default (10 s) exceeds the 2 s budget, so no wait at all.
    let mock = api_mock(|_, _| mde_error(429, "TooManyRequests", "slow down")).await;
    let client = MdeClient::new(
        &mock.profile(),
        ClientOptions {
            max_throttle_wait: Duration::from_secs(2),
            ..options()
        },
    )
    .expect("client");
    let started = Instant::now();
    let err = client.get_machine("a1").await.expect_err("must fail");
    assert!(
        matches!(err, ApiError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(10)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.api_requests().len(), 1);
}

// ---------------------------------------------------------------- safety

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let mut profile = profile_for(
        "http://api.securitycenter.microsoft.com",
        cordon_core::config::SecretSource::Value(SECRET.into()),
    );
    profile.authority = "https://login.microsoftonline.com".into();
    let err = MdeClient::new(&profile, ClientOptions::default()).expect_err("must fail");
    assert!(matches!(err, ApiError::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("http"), "{err}");

    profile.api_base = "https://api.securitycenter.microsoft.com".into();
    profile.authority = "http://login.microsoftonline.com".into();
    let err = MdeClient::new(&profile, ClientOptions::default()).expect_err("must fail");
    assert!(
        matches!(err, ApiError::Auth(AuthError::InsecureAuthority { .. })),
        "{err:?}"
    );

    profile.authority = "https://login.microsoftonline.com".into();
    assert!(MdeClient::new(&profile, ClientOptions::default()).is_ok());
}

#[tokio::test]
async fn read_only_profiles_and_empty_comments_send_nothing() {
    let mock =
        api_mock(|_, _| json_response(201, action_json("act-1", "Isolate", "Pending", Some("a1"))))
            .await;
    let mut profile = mock.profile();
    profile.readonly = true;
    let readonly = MdeClient::new(&profile, options()).expect("client");
    let err = readonly
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::ReadOnly { .. }), "{err:?}");
    let err = client(&mock)
        .unisolate("a1", "   ")
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::InvalidInput(_)), "{err:?}");
    let err = client(&mock)
        .get_machine("..")
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::InvalidInput(_)), "{err:?}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn secrets_never_appear_in_debug_or_errors() {
    let mock = api_mock(|_, _| mde_error(401, "Unauthorized", "no")).await;
    let profile = mock.profile();
    let client = client(&mock);
    let err = client.get_machine("a1").await.expect_err("must fail");
    for text in [
        format!("{profile:?}"),
        format!("{client:?}"),
        format!("{:?}", client.token_provider()),
        format!("{err:?}"),
        err.to_string(),
        err.explain(),
    ] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("tok-1") && !text.contains("tok-2"), "{text}");
    }
    // The secret did go where it belongs: the token request's form.
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.is_token() && r.form()["client_secret"] == SECRET)
    );
}

// ---------------------------------------------------------------- hostile service

#[tokio::test]
async fn an_oversized_body_is_an_error_and_is_downloaded_once() {
    // Chunked with no length: read up to the cap, then abandoned.
    let mock = api_mock(|_, _| endless_response(1 << 20)).await;
    let started = Instant::now();
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::TooLarge { limit } if limit == MAX_API_BODY),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("oversized") && text.contains("64 MiB"),
        "{text}"
    );
    assert_eq!(err.code(), "ResponseTooLarge");
    // A read that does not parse is retried; one over the cap is not.
    assert_eq!(mock.api_requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_before_reading() {
    let mock = api_mock(|_, _| declared_response(2 << 30)).await;
    let started = Instant::now();
    let err = all_machines(&client(&mock), None)
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err:?}");
    assert_eq!(mock.api_requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_oversized_answer_to_a_write_is_ambiguous_and_not_replayed() {
    let mock = api_mock(|_, _| endless_response(1 << 20)).await;
    let err = client(&mock)
        .isolate("a1", "c", IsolationType::Full)
        .await
        .expect_err("must fail");
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err:?}");
    // The service may have acted: the worker reads before deciding.
    assert!(err.is_ambiguous());
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 1);
}

#[tokio::test]
async fn a_dripping_body_ends_at_the_request_deadline() {
    let mock = api_mock(|_, _| dripping_response(Duration::from_millis(20))).await;
    let client = MdeClient::new(
        &mock.profile(),
        ClientOptions {
            request_timeout: Duration::from_millis(400),
            max_read_attempts: 1,
            ..options()
        },
    )
    .expect("client");
    let started = Instant::now();
    let err = client.get_machine("a1").await.expect_err("must fail");
    assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_self_looping_next_link_ends_with_an_error() {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let link = base.clone();
    let mock = api_mock(move |req, _| {
        // Every page points at the page it is on.
        let own = format!(
            "{}{}?{}",
            link.get().expect("base set"),
            req.path,
            req.query.as_deref().unwrap_or("")
        );
        let values = if req.path.ends_with("/machines") {
            vec![machine_json("m1", "a")]
        } else {
            vec![]
        };
        json_response(200, page(values, Some(own)))
    })
    .await;
    base.set(mock.base.clone()).expect("set once");
    let client = client(&mock);

    let err = all_machines(&client, None).await.expect_err("must fail");
    assert!(
        matches!(err, ApiError::Paging(PagingFault::Repeated { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("page link repeats"), "{err}");
    assert_eq!(err.code(), "InvalidPaging");
    assert_eq!(mock.api_requests().len(), 2);

    let err = all_actions(&client, &ActionFilter::default())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Paging(PagingFault::Repeated { .. })),
        "{err:?}"
    );
    assert_eq!(mock.api_requests().len(), 4);
}

#[tokio::test]
async fn a_listing_that_never_ends_stops_at_the_page_limit() {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let link = base.clone();
    // Each link is new, so only the page count stops it.
    let mock = api_mock(move |_, earlier| {
        let next = format!(
            "{}/api/machineactions?$skip={}",
            link.get().expect("base set"),
            earlier.len() + 1
        );
        json_response(200, json!({"value": [], "@odata.nextLink": next}))
    })
    .await;
    base.set(mock.base.clone()).expect("set once");
    let err = all_actions(&client(&mock), &ActionFilter::default())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Paging(PagingFault::TooManyPages { limit }) if limit == MAX_PAGES),
        "{err:?}"
    );
    assert!(err.to_string().contains("exceeded 1000 pages"), "{err}");
    assert_eq!(mock.api_requests().len(), MAX_PAGES);
}

#[tokio::test]
async fn absurd_retry_after_values_fail_promptly_without_panicking() {
    for value in [
        "18446744073709551615",
        "999999999",
        "1e300",
        "99999999999999999999999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let value = value.to_string();
        let mock = api_mock(move |_, _| throttled(&value)).await;
        let started = Instant::now();
        let err = client(&mock)
            .get_machine("a1")
            .await
            .expect_err("must fail");
        // Bounded when parsed, and over the 120 s budget: no sleep at all.
        assert!(
            matches!(err, ApiError::Throttled { retry_after: Some(d) } if d == MAX_RETRY_AFTER),
            "{err:?}"
        );
        assert!(err.to_string().contains("3600 s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(mock.api_requests().len(), 1);
    }
}

#[tokio::test]
async fn a_retry_after_that_is_not_a_wait_uses_the_default() {
    for value in ["-5", "NaN", "soon", "-1e300"] {
        let value = value.to_string();
        let mock = api_mock(move |_, earlier| {
            if earlier.is_empty() {
                throttled(&value)
            } else {
                json_response(200, machine_json("a1", "ws-1"))
            }
        })
        .await;
        let client = MdeClient::new(
            &mock.profile(),
            ClientOptions {
                default_retry_after: Duration::from_millis(100),
                ..options()
            },
        )
        .expect("client");
        client
            .get_machine("a1")
            .await
            .expect("after the default wait");
        assert_eq!(mock.api_requests().len(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn a_short_retry_after_then_a_huge_one_fails_without_panicking() {
    let mock = api_mock(|_, earlier| {
        if earlier.is_empty() {
            throttled("1")
        } else {
            throttled("18446744073709551615")
        }
    })
    .await;
    let started = tokio::time::Instant::now();
    let err = client(&mock)
        .get_machine("a1")
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, ApiError::Throttled { retry_after: Some(d) } if d == MAX_RETRY_AFTER),
        "{err:?}"
    );
    // One wait of 1 s (paused clock), then a failure at once.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(mock.api_requests().len(), 2);
}

#[tokio::test]
async fn a_long_throttle_pauses_the_api_without_sleeping() {
    let mock = api_mock(|_, _| throttled("999999999")).await;
    let api = RateLimited::new(client(&mock), RateLimits::default());
    let started = Instant::now();
    let err = api.get_machine("a1").await.expect_err("must fail");
    assert!(matches!(err, ApiError::Throttled { .. }), "{err:?}");
    // The API is paused for the (bounded) hour: the next call fails at once, naming
    // the wait, and sends nothing.
    let err = api.get_machine("a1").await.expect_err("must fail");
    assert!(
        matches!(err, ApiError::Throttled { retry_after: Some(d) } if d > Duration::from_secs(3500) && d <= MAX_RETRY_AFTER),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.api_requests().len(), 1);
}

#[tokio::test]
async fn an_isolation_pre_check_on_a_looping_listing_fails_and_sends_nothing() {
    use cordon_core::audit::{AuditContext, AuditLog};
    use cordon_core::worker::protocol::{Command, WorkerEvent, WriteOp, WriteRequest};
    use cordon_core::worker::{WorkerSettings, spawn};

    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let link = base.clone();
    let mock = api_mock(move |req, _| {
        let own = format!(
            "{}{}?{}",
            link.get().expect("base set"),
            req.path,
            req.query.as_deref().unwrap_or("")
        );
        json_response(200, json!({"value": [], "@odata.nextLink": own}))
    })
    .await;
    base.set(mock.base.clone()).expect("set once");
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = AuditLog::open(
        &dir.path().join("audit.jsonl"),
        AuditContext {
            user: "tester".into(),
            profile: "test".into(),
            tenant: TENANT.into(),
        },
    )
    .expect("audit");
    let api = Arc::new(RateLimited::new(client(&mock), RateLimits::default()));
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut worker = spawn(api, audit, WorkerSettings::default(), cancel.clone());
    worker
        .commands
        .send(Command::Submit(vec![WriteRequest {
            request_id: 1,
            machine_id: "a1".into(),
            machine_name: "ws-1".into(),
            op: WriteOp::Isolate {
                isolation_type: IsolationType::Full,
            },
            comment: cordon_core::domain::Comment::parse("ward 3").expect("valid comment"),
        }]))
        .await
        .expect("send");
    let error = loop {
        match worker.events.recv().await.expect("worker alive") {
            WorkerEvent::Failed {
                request_id: 1,
                error,
            } => break error,
            WorkerEvent::Accepted { .. } | WorkerEvent::AlreadyActive { .. } => {
                panic!("must not be sent")
            }
            _ => {}
        }
    };
    assert_eq!(error.code, "InvalidPaging");
    assert_eq!(mock.count("POST", "/api/machines/a1/isolate"), 0);
    cancel.cancel();
}
