//! `Mcp-Param-*` headers (SEP-2243) on a hosted server: an upstream tool whose definition
//! mirrors an argument into a header is refused (−32020, HTTP 400) when the header and
//! the body disagree, and served when they agree.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture_with, text_of};
use crate::helpers::STATELESS_ERA;

fn routed_tool() -> Value {
    json!({"name": "routed", "description": "Runs in the region it is given.",
           "inputSchema": {"type": "object", "properties": {
               "region": {"type": "string", "x-mcp-header": "Region"}},
               "required": ["region"]}})
}

async fn call_with_header(
    f: &crate::gateway_fixture::Fixture,
    header: Option<&str>,
) -> (StatusCode, Value) {
    let arguments = json!({"region": "eu-west"});
    let mut params = json!({"name": "fx__routed", "arguments": arguments});
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_ERA,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1.0"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let mut request = f
        .mcp
        .request(reqwest::Method::POST)
        .header("mcp-protocol-version", STATELESS_ERA)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "fx__routed");
    if let Some(value) = header {
        request = request.header("Mcp-Param-Region", value);
    }
    let answer = f.mcp.send(request.json(&body)).await;
    (answer.status, answer.body)
}

backend_tests! {
    async fn an_upstream_tools_param_headers_must_agree_with_its_arguments(db: &TestDatabase) {
        let file = std::env::temp_dir().join(format!("guidepost-param-headers-{}-{}.json", std::process::id(), db.backend));
        std::fs::write(&file, json!([routed_tool()]).to_string()).unwrap();
        let path = file.display().to_string();
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_TOOLS", &path)], |_| {}).await;

        let (status, body) = call_with_header(&f, Some("eu-west")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(text_of(&body), "routed ran");
        let (status, body) = call_with_header(&f, Some("=?base64?ZXUtd2VzdA==?=")).await;
        assert_eq!(status, StatusCode::OK, "Base64 of the same value: {body}");

        for wrong in [None, Some("us-east"), Some("=?base64?ZXUtd2VzdA?=")] {
            let (status, body) = call_with_header(&f, wrong).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong:?}: {body}");
            assert_eq!(body["error"]["code"], -32020, "{wrong:?}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("Mcp-Param-Region"), "{body}");
        }
        let _ = std::fs::remove_file(file);
    }
}
