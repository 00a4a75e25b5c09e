//! Traces of what the platform sends: a webhook delivery is a trace of its own
//! (the worker sends it, not a request), its span naming the organization, the webhook
//! and the attempt; a mail sent while a request is served (a reply to a support request,
//! mailed to the person) is a span of that request's trace, naming its transport. Neither
//! carries the address it goes to: traces leave the platform.

use std::time::{Duration, Instant};

use axum::routing::post;
use guidepost_testkit::{TestBackend, TestDatabase};
use opentelemetry_proto::tonic::trace::v1::Span;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_fixture::ProcessTenant;
use crate::helpers::{RawMcp, STATELESS_ERA, serve_process_with};
use crate::tracing_otlp::{Received, attribute, hex, receiver, serve_apart};

/// The trace the reply's request continues.
const REPLY_TRACE: &str = "7a3c51f0e2d94b8c9f1e0d2c3b4a5968";
const REPLY_PARENT: &str = "1f2e3d4c5b6a7980";

#[tokio::test]
async fn a_webhook_delivery_and_a_mail_are_spans_without_their_addresses() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let (endpoint, received) = receiver();
    let hooks = serve_apart(axum::Router::new().route("/hook", post(|| async { "ok" })));
    let outbox = std::env::temp_dir().join(format!("guidepost-outbox-{}", std::process::id()));
    let outbox_dir = outbox.display().to_string();
    let env = [
        ("GUIDEPOST_OTLP_ENDPOINT", endpoint.as_str()),
        ("GUIDEPOST_OTLP_SAMPLE_RATIO", "1"),
        ("GUIDEPOST_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("GUIDEPOST_MASTER_KEY", &"0123456789abcdef".repeat(4)),
        ("GUIDEPOST_MAIL_OUTBOX", outbox_dir.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (_node, base) = serve_process_with(&db.url, &env).await;
    let acme = ProcessTenant::create(&db.url, &base).await;
    let key = Some(acme.key.as_str());
    let hook = json!({"url": format!("{hooks}/hook"), "events": ["support_request.created"]});
    let (status, webhook) = acme
        .api
        .call(Method::POST, "/webhooks", key, Some(hook))
        .await
        .into_parts();
    assert_eq!(status, StatusCode::CREATED, "{webhook}");

    // A support request: its webhook is delivered by the worker, in a trace of its own.
    let person = RawMcp::new(format!("{base}/s/acme/mcp?tracking_id=ada"), STATELESS_ERA);
    let support =
        json!({"title": "Stuck", "problem_description": "It hangs.", "email": "ada@acme.example"});
    let opened = person.call_tool(1, "get_support", support).await;
    let request = opened.structured()["support_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = first_named(&received, "webhook delivery").await;
    assert_eq!(
        attribute(&delivery, "guidepost.webhook.id"),
        webhook["id"].as_str().map(str::to_owned)
    );
    assert_eq!(
        attribute(&delivery, "guidepost.delivery.attempt").as_deref(),
        Some("1")
    );
    assert!(
        attribute(&delivery, "guidepost.organization.id")
            .is_some_and(|org| org.starts_with("org_"))
    );
    assert!(
        delivery.parent_span_id.is_empty(),
        "a trace of its own: {delivery:?}"
    );

    // A reply, mailed to the person, in the trace of the request that wrote it.
    let reply = acme
        .api
        .request(
            Method::POST,
            &format!("/support-requests/{request}/messages"),
            key,
        )
        .header("traceparent", format!("00-{REPLY_TRACE}-{REPLY_PARENT}-01"))
        .json(&json!({"kind": "reply", "body": "Try again now."}));
    let (status, written) = acme.api.send(reply).await.into_parts();
    assert_eq!(
        (status, &written["mailed"]),
        (StatusCode::CREATED, &json!(true)),
        "{written}"
    );
    let mail = first_named(&received, "mail send").await;
    assert_eq!(hex(&mail.trace_id), REPLY_TRACE, "{:?}", received.summary());
    assert_eq!(
        attribute(&mail, "guidepost.mail.transport").as_deref(),
        Some("outbox")
    );

    for span in [&delivery, &mail] {
        let attributes = format!("{:?}", span.attributes);
        assert!(
            !attributes.contains("ada@acme.example") && !attributes.contains(&hooks),
            "{attributes}"
        );
    }
    let _ = std::fs::remove_dir_all(&outbox);
}

/// The first span named `name` the receiver gets, within 30 s.
async fn first_named(received: &Received, name: &str) -> Span {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(span) = received.named(name).into_iter().next() {
            return span;
        }
        assert!(
            Instant::now() < deadline,
            "no {name:?} span after 30 s: {:?}",
            received.summary()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
