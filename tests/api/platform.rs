//! Cross-cutting behaviour: problem+json for every error, correlation ids, health,
//! metrics and the OpenAPI document.

use crate::both;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

both!(errors_are_problem_json_everywhere, |app| {
    let admin = app.admin().await;
    let (s, b) = app.get("/no/such/page", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    assert_eq!(b["instance"], "/no/such/page");

    let r = app
        .client
        .patch(app.url("/livez"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], 405);

    // 415: not JSON.
    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .bearer_auth(&admin.token)
        .body("name=x")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // 400: broken JSON.
    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .bearer_auth(&admin.token)
        .body("{\"name\": ")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["status"], 400);

    // 422: well-formed JSON of the wrong shape names the problem.
    let (s, b) = app
        .post(
            "/codex/api/companies",
            &admin,
            serde_json::json!({"name": 5}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .post(
            "/codex/api/companies",
            &admin,
            serde_json::json!({"name": "x", "colour": "red"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["errors"]["body"].as_str().unwrap().contains("colour"),
        "{b}"
    );

    // 400 for an unparsable query parameter.
    let (s, b) = app.get("/codex/api/companies?limit=lots", &admin).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST);
});

#[tokio::test]
async fn oversized_bodies_get_413_problem() {
    let app = spawn_with(Backend::Sqlite, |s| s.max_body_bytes = 1024)
        .await
        .unwrap();
    let admin = app.admin().await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(4096));
    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (_, list) = app.get("/codex/api/companies", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing was created");
}

both!(correlation_ids_are_honoured_or_made, |app| {
    let admin = app.admin().await;
    let r = app
        .client
        .get(app.url("/codex/api/companies/nope"))
        .bearer_auth(&admin.token)
        .header("X-Correlation-ID", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "trace-abc-123");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["correlation_id"], "trace-abc-123");

    let r = app.client.get(app.url("/livez")).send().await.unwrap();
    let made = r.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(made.len(), 32);
    let r2 = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_ne!(r2.headers()["x-correlation-id"].to_str().unwrap(), made);
});

both!(health_reports_database_and_disk, |app| {
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    let status = r.status();
    let b: Value = r.json().await.unwrap();
    // The overall status follows the disk of this machine: healthy below 85 % used,
    // unhealthy (and 503, so a load balancer stops sending work) from 95 %.
    let used = b["checks"]["disk"]["usage_percent"].as_f64().unwrap();
    let expected = match used {
        u if u >= 95.0 => "unhealthy",
        u if u >= 85.0 => "degraded",
        _ => "healthy",
    };
    assert_eq!(b["status"], expected, "{b}");
    assert_eq!(b["checks"]["disk"]["status"], expected);
    let want = if expected == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    assert_eq!(status, want, "{b}");
    assert_eq!(b["checks"]["database"]["status"], "healthy");
    assert!(b["checks"]["database"]["latency_ms"].is_number());
    assert!(["sqlite", "postgresql"].contains(&b["checks"]["database"]["type"].as_str().unwrap()));
    assert!(b["checks"]["disk"]["usage_percent"].is_number());
    let r = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
});

both!(metrics_count_requests_by_route, |app| {
    let admin = app.admin().await;
    app.get("/codex/api/companies/100001", &admin).await;
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("hivematrix_http_requests_total{method=\"GET\",route=\"/codex/api/companies/{account_number}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("hivematrix_process_resident_memory_bytes"));
});

both!(
    openapi_documents_every_json_route_and_docs_are_served,
    |app| {
        let admin = app.admin().await;
        let (s, doc) = app.get("/openapi.json", &admin).await;
        assert_eq!(s, StatusCode::OK);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/codex/api/companies",
            "/codex/api/companies/{account_number}",
            "/codex/api/companies/bulk",
            "/codex/api/audit",
            "/api/me",
        ] {
            assert!(
                paths.contains_key(p),
                "missing {p} in {:?}",
                paths.keys().collect::<Vec<_>>()
            );
        }
        let r = app
            .client
            .get(app.url("/docs/"))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("swagger"), "viewer page");
        assert!(!html.contains("cdn") && !html.contains("unpkg"), "no CDN");
        let r = app
            .client
            .get(app.url("/docs/swagger-ui-bundle.js"))
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "viewer assets are embedded");
    }
);
