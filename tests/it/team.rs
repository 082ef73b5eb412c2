//! Working as a team: who may reach the tenant's data from where.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, websocket_status};

backend_tests!(requests_from_outside_the_allow_list_are_refused);

async fn requests_from_outside_the_allow_list_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let (_, other) = app.create_tenant("Other");

    let (status, problem) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8", "not-a-net"]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cidrs[1]")));
    let (status, problem) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8"]})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cidrs")), "no locking yourself out by mistake");
    let (status, _) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["127.0.0.0/8", "10.0.0.0/8"]})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/conversations", &admin).await;
    assert_eq!(status, StatusCode::OK, "the office network is allowed");

    // Only the head office now: this address is outside.
    let (status, shown) = app.put("/v1/ip-allow-list", &admin, json!({"cidrs": ["10.0.0.0/8"], "force": true})).await;
    assert_eq!((status, shown["cidrs"].clone()), (StatusCode::OK, json!(["10.0.0.0/8"])));
    let (status, problem) = app.get("/v1/conversations", &admin).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("ip_not_allowed")), "{problem}");
    let realtime = format!("{}/v1/realtime", app.ws_base);
    assert_eq!(websocket_status(&realtime, Some(&admin)).await, 403);
    let (status, _) = app.get("/v1/conversations", &other).await;
    assert_eq!(status, StatusCode::OK, "other tenants are not affected");

    // The refusal is on record.
    let db = app.db().await;
    let refused = omnibridge::store::privacy::audit(&db, tenant.parse().expect("uuid"), None, Some("access.ip_refused"), None, 10).await.expect("audit");
    assert!(!refused.is_empty());
    assert_eq!(refused[0].detail.as_deref(), Some("127.0.0.1"));
}
