//! `/app/servers/{id}/tester`: try one of a server's tools (built-in or an upstream's) from
//! the dashboard. The form is generated on the server from the tool's input
//! schema, so it needs no script; the call goes through the real MCP endpoint, in process,
//! as a test person, and is recorded as a test call (`guidepost_mcp::TestCall`).

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use guidepost_core::hosting::servers;
use guidepost_domain::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::Dashboard;
use crate::page::{self, Chrome, IdPath, PageError, PageResult, Section};
use crate::session::{Signed, SignedForm};

mod form;

use form::{Field, arguments_from, fields_of};

/// The MCP protocol version the tester speaks: one request per call, no session.
const PROTOCOL_VERSION: &str = "2026-07-28";
/// Who the tester calls as on the server: one test person per organization.
pub(crate) const TEST_PERSON: &str = "guidepost-tool-tester";
/// The largest answer the tester reads.
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Template)]
#[template(path = "servers/tester.html")]
struct TesterPage {
    chrome: Chrome,
    id: String,
    server_name: String,
    /// (name, title, selected)
    tools: Vec<(String, String, bool)>,
    tool: Option<ChosenTool>,
    outcome: Option<Outcome>,
}

struct ChosenTool {
    name: String,
    description: String,
    fields: Vec<Field>,
}

/// What a call answered.
struct Outcome {
    failed: bool,
    texts: Vec<String>,
    structured: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct TesterQuery {
    #[serde(default)]
    tool: Option<String>,
}

/// `GET /app/servers/{id}/tester?tool=`: the tools, and the chosen one's form.
pub(crate) async fn show(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<ServerId>,
    Query(query): Query<TesterQuery>,
) -> PageResult {
    let values = Map::new();
    render(&app, &signed, &id, query.tool.as_deref(), &values, None).await
}

/// `POST /app/servers/{id}/tester`: runs the tool with the form's arguments.
pub(crate) async fn run(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<Vec<(String, String)>>,
) -> PageResult {
    let server = servers::for_tool_test(&app.platform, signed.caller(), &id).await?;
    let tool_name = form
        .iter()
        .find(|(key, _)| key == "tool")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let listed = guidepost_mcp::listed_tools(&app.platform, &server).await?;
    let Some(tool) = find_tool(&listed, &tool_name) else {
        return Err(PageError::NotFound);
    };
    let fields = fields_of(&tool["inputSchema"]);
    let (arguments, entered) = arguments_from(&fields, &form)?;
    let answer = call(&app, &server, &tool_name, &arguments).await;
    render(&app, &signed, &id, Some(&tool_name), &entered, Some(answer)).await
}

async fn render(
    app: &Dashboard,
    signed: &Signed,
    id: &ServerId,
    chosen: Option<&str>,
    values: &Map<String, Value>,
    outcome: Option<Outcome>,
) -> PageResult {
    let server = servers::get(&app.platform, signed.caller(), id).await?;
    let listed = guidepost_mcp::listed_tools(&app.platform, &server).await?;
    let title = format!("Try a tool of {}", server.name);
    let chrome = Chrome::new(app, signed, title, Section::Servers, None).await?;
    let tools = listed
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str())
                .map(|name| {
                    let title = name.to_owned();
                    (name.to_owned(), title, Some(name) == chosen)
                })
                .collect()
        })
        .unwrap_or_default();
    let tool = chosen
        .and_then(|name| find_tool(&listed, name))
        .map(|tool| {
            let mut fields = fields_of(&tool["inputSchema"]);
            for field in &mut fields {
                field.fill(values.get(&field.name));
            }
            ChosenTool {
                name: tool["name"].as_str().unwrap_or_default().to_owned(),
                description: tool["description"].as_str().unwrap_or_default().to_owned(),
                fields,
            }
        });
    Ok(page::render(&TesterPage {
        chrome,
        id: id.to_string(),
        server_name: server.name,
        tools,
        tool,
        outcome,
    }))
}

fn find_tool<'a>(listed: &'a Value, name: &str) -> Option<&'a Value> {
    listed.as_array()?.iter().find(|t| t["name"] == name)
}

/// Calls the tool through the server's own MCP endpoint, in process, as the test person.
async fn call(app: &Dashboard, server: &McpServer, tool: &str, arguments: &Value) -> Outcome {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": tool, "arguments": arguments,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "Guidepost tool tester", "version": env!("CARGO_PKG_VERSION")},
        "io.modelcontextprotocol/clientCapabilities": {},
    }}});
    let uri = format!("/s/{}/mcp?tracking_id={TEST_PERSON}", server.slug.as_str());
    let request = http::Request::post(uri)
        .header(http::header::HOST, &app.platform.config.base_domain)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .extension(guidepost_mcp::TestCall)
        .body(Body::from(body.to_string()));
    let answered = match request {
        Ok(request) => app.mcp.clone().oneshot(request).await,
        Err(error) => return failure(format!("The call could not be made: {error}")),
    };
    let Ok(response) = answered;
    let status = response.status();
    if status == http::StatusCode::UNAUTHORIZED {
        return failure(
            "This server's people sign in (platform_oauth or custom_oauth), and the tester \
             cannot sign in for one: try its tools from a client that signs in."
                .to_owned(),
        );
    }
    let bytes = match axum::body::to_bytes(response.into_body(), ANSWER_LIMIT).await {
        Ok(bytes) => bytes,
        Err(error) => return failure(format!("The answer could not be read: {error}")),
    };
    let text = String::from_utf8_lossy(&bytes);
    match message_of(&text) {
        Some(message) => outcome_of(&message),
        None => failure(format!(
            "The server answered {status} with no MCP message: {text}"
        )),
    }
}

/// The JSON-RPC answer of a body that is JSON, or an event stream of JSON messages.
fn message_of(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .rfind(|message| message.get("result").is_some() || message.get("error").is_some())
}

fn outcome_of(message: &Value) -> Outcome {
    if let Some(error) = message.get("error") {
        let text = error["message"].as_str().unwrap_or("The call was refused.");
        return failure(text.to_owned());
    }
    let result = &message["result"];
    let texts = result["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .map(|block| match block["text"].as_str() {
                    Some(text) => text.to_owned(),
                    None => serde_json::to_string_pretty(block).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Outcome {
        failed: result["isError"] == true,
        texts,
        structured: result
            .get("structuredContent")
            .filter(|s| !s.is_null())
            .map(|s| serde_json::to_string_pretty(s).unwrap_or_default()),
    }
}

fn failure(text: String) -> Outcome {
    Outcome {
        failed: true,
        texts: vec![text],
        structured: None,
    }
}
