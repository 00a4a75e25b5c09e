//! The URIs an attachment's resources are exposed under, so that two upstreams never
//! collide and a read goes back to the right one (docs/GATEWAY.md, "Resources"):
//!
//! - `{prefix}+{uri}` for every URI (`ev+demo://resource/static/document/architecture.md`);
//! - `ui://{prefix}/{rest}` for an MCP Apps resource `ui://{rest}`, which stays a `ui://`
//!   URI so that hosts still render it as an app.
//!
//! Prefixes are letters, digits and `-` (`names::checked_prefix`), so the first `+` (or
//! the first `/` after `ui://`) ends the prefix unambiguously. The same rewriting applies
//! to the URIs inside what an upstream answers: resource links and embedded resources in
//! tool results and prompt messages, read contents, and a tool's
//! `_meta.ui.resourceUri`.

use serde_json::Value;

const APP_SCHEME: &str = "ui://";

/// The URI `uri` of an attachment with `prefix` is exposed under.
pub(crate) fn exposed_uri(prefix: &str, uri: &str) -> String {
    match uri.strip_prefix(APP_SCHEME) {
        Some(rest) => format!("{APP_SCHEME}{prefix}/{rest}"),
        None => format!("{prefix}+{uri}"),
    }
}

/// The prefix and the upstream's own URI of an exposed URI; `None` if it has no
/// attachment's shape.
pub fn split_exposed(exposed: &str) -> Option<(&str, String)> {
    let (prefix, original) = match exposed.strip_prefix(APP_SCHEME) {
        Some(rest) => {
            let (prefix, rest) = rest.split_once('/')?;
            (prefix, format!("{APP_SCHEME}{rest}"))
        }
        None => {
            let (prefix, original) = exposed.split_once('+')?;
            (prefix, original.to_owned())
        }
    };
    let prefix_shaped = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    prefix_shaped.then_some((prefix, original))
}

/// Whether `uri` may be an expansion of the URI template `template` (RFC 6570): its
/// literal parts in order, each `{…}` expression standing for any text, letters in any
/// case and `%XX` escapes decoded (an upstream may read `FILE:%2F%2F…` as `file://…`).
/// Looser than the RFC (an expression also matches text it could not produce), which is
/// the safe side for what it decides: which template's review a read must wait for.
pub(crate) fn expands(template: &str, uri: &str) -> bool {
    let template = template.to_ascii_lowercase();
    // Each `%XX` escape decoded (an invalid one kept as it is).
    let uri = percent_encoding::percent_decode_str(uri)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    let mut literals = Vec::new();
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return false,
        }
    }
    let Some((first, more)) = literals.split_first() else {
        return template == uri;
    };
    let first = *first;
    // The first literal starts it and the last ends it; those between come in order.
    let Some(mut between) = uri
        .as_str()
        .strip_prefix(first)
        .and_then(|left| left.strip_suffix(rest))
    else {
        return false;
    };
    for literal in more {
        match between.find(literal) {
            Some(at) => between = &between[at + literal.len()..],
            None => return false,
        }
    }
    true
}

/// Rewrites, in place, the URIs of the content blocks in `blocks` (tool result content,
/// or a prompt message's content): resource links and embedded resources.
pub(crate) fn expose_content(prefix: &str, blocks: &mut [Value]) {
    for block in blocks {
        expose_block(prefix, block);
    }
}

/// One content block: a `resource_link`'s `uri`, a `resource`'s `resource.uri`.
fn expose_block(prefix: &str, block: &mut Value) {
    match block.get("type").and_then(Value::as_str) {
        Some("resource_link") => expose_field(prefix, block, "uri"),
        Some("resource") => {
            if let Some(resource) = block.get_mut("resource") {
                expose_field(prefix, resource, "uri");
            }
        }
        _ => {}
    }
}

/// Rewrites `object[field]` if it is a string.
fn expose_field(prefix: &str, object: &mut Value, field: &str) {
    if let Some(uri) = object.get(field).and_then(Value::as_str) {
        object[field] = Value::String(exposed_uri(prefix, uri));
    }
}

/// A `prompts/get` result: each message's content (one block, or a list of them).
pub(crate) fn expose_prompt_result(prefix: &str, result: &mut Value) {
    let Some(messages) = result.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for message in messages {
        match message.get_mut("content") {
            Some(Value::Array(blocks)) => expose_content(prefix, blocks),
            Some(block) => expose_block(prefix, block),
            None => {}
        }
    }
}

/// A `resources/read` result: each content's `uri`.
pub(crate) fn expose_read_result(prefix: &str, result: &mut Value) {
    if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
        for content in contents {
            expose_field(prefix, content, "uri");
        }
    }
}

/// A tool definition: the MCP Apps resource it names (`_meta.ui.resourceUri`, and the
/// older flat `_meta["ui/resourceUri"]`).
pub(crate) fn expose_tool_definition(prefix: &str, definition: &mut Value) {
    let Some(meta) = definition.get_mut("_meta") else {
        return;
    };
    if let Some(ui) = meta.get_mut("ui") {
        expose_field(prefix, ui, "resourceUri");
    }
    expose_field(prefix, meta, "ui/resourceUri");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_covers_the_uris_it_may_expand_to() {
        assert!(expands("fx+notes://{path}", "fx+notes://guide.md"));
        assert!(expands("fx+notes://{path}", "fx+notes://a/b?c"));
        assert!(expands(
            "fx+repo://{owner}/{name}/tree",
            "fx+repo://ada/x/tree"
        ));
        assert!(expands("fx+search{?q,lang}", "fx+search?q=rust&lang=en"));
        assert!(expands("fx+fixed://one", "fx+fixed://one"));
        assert!(!expands("fx+notes://{path}", "fx+files://guide.md"));
        assert!(!expands(
            "fx+repo://{owner}/{name}/tree",
            "fx+repo://ada/x/blob"
        ));
        assert!(
            !expands("fx+repo://{owner}/tree", "fx+repo://tree"),
            "the literal twice"
        );
        assert!(!expands("fx+broken://{path", "fx+broken://x"));
        assert!(!expands("fx+fixed://one", "fx+fixed://two"));
        // However an upstream may read the scheme and escapes.
        assert!(expands("fx+file:///{path}", "fx+FILE:///etc/x"));
        assert!(expands("fx+file:///{path}", "fx+file:%2F%2F%2Fetc/x"));
        assert!(expands("fx+file:///{path}", "fx+file:%2f%2F/etc/%zz"));
    }

    #[test]
    fn exposed_uris_name_their_attachment_and_split_back() {
        let plain = "demo://resource/static/document/architecture.md";
        assert_eq!(exposed_uri("ev", plain), format!("ev+{plain}"));
        assert_eq!(
            split_exposed(&exposed_uri("ev", plain)),
            Some(("ev", plain.to_owned()))
        );
        let app = "ui://weather/view.html";
        assert_eq!(exposed_uri("ev-2", app), "ui://ev-2/weather/view.html");
        assert_eq!(
            split_exposed("ui://ev-2/weather/view.html"),
            Some(("ev-2", app.to_owned()))
        );
        // A URI whose own text holds `+` keeps it: the first one ends the prefix.
        let odd = "file:///a+b.txt";
        assert_eq!(
            split_exposed(&exposed_uri("ev", odd)),
            Some(("ev", odd.to_owned()))
        );
        assert_eq!(split_exposed("demo://no-prefix"), None);
        assert_eq!(split_exposed("bad prefix+demo://x"), None);
    }

    #[test]
    fn links_embedded_resources_read_contents_and_app_uris_are_rewritten() {
        let mut blocks = vec![
            json!({"type": "text", "text": "see demo://x"}),
            json!({"type": "resource_link", "uri": "demo://a", "name": "a"}),
            json!({"type": "resource", "resource": {"uri": "demo://b", "text": "b"}}),
        ];
        expose_content("ev", &mut blocks);
        assert_eq!(blocks[0]["text"], "see demo://x", "text is not touched");
        assert_eq!(blocks[1]["uri"], "ev+demo://a");
        assert_eq!(blocks[2]["resource"]["uri"], "ev+demo://b");

        let mut read = json!({"contents": [{"uri": "demo://b", "text": "b"}]});
        expose_read_result("ev", &mut read);
        assert_eq!(read["contents"][0]["uri"], "ev+demo://b");

        let mut prompt = json!({"messages": [
            {"role": "user", "content": {"type": "resource", "resource": {"uri": "demo://c"}}},
        ]});
        expose_prompt_result("ev", &mut prompt);
        assert_eq!(
            prompt["messages"][0]["content"]["resource"]["uri"],
            "ev+demo://c"
        );

        let mut tool = json!({"name": "show", "_meta": {"ui": {"resourceUri": "ui://w/v.html"},
            "ui/resourceUri": "ui://w/v.html"}});
        expose_tool_definition("ev", &mut tool);
        assert_eq!(tool["_meta"]["ui"]["resourceUri"], "ui://ev/w/v.html");
        assert_eq!(tool["_meta"]["ui/resourceUri"], "ui://ev/w/v.html");
    }
}
