//! The sign-in pages: plain HTML forms that work without JavaScript, for people, browsers
//! and scripts alike (the field names are fixed: `email`, `code`, `decision`, and a
//! `csrf_token` in every form). Every value that comes from outside — server and client
//! names, emails, URLs — goes through [`escape`]; nothing else is interpolated.

use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use url::Url;

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// What every form page of one login session shares.
pub(crate) struct Form<'a> {
    /// The hosted server's name, as the person knows it.
    pub server_name: &'a str,
    /// `{issuer}/login/{id}`: the forms post to its sub-paths.
    pub action_base: &'a str,
    pub csrf_token: &'a str,
}

impl Form<'_> {
    fn open(&self, action: &str) -> String {
        format!(
            "<form method=\"post\" action=\"{}/{action}\">\n\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\n",
            escape(self.action_base),
            escape(self.csrf_token)
        )
    }
}

fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default()
}

/// Step 1: the email address.
pub(crate) fn email_page(form: &Form, error: Option<&str>, value: &str) -> String {
    let body = format!(
        "<p>Sign in to use <strong>{server}</strong>. We will email you a one-time code.</p>\n\
         {alert}{open}<label for=\"email\">Email address</label>\n\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required \
         maxlength=\"254\" value=\"{value}\" autofocus>\n\
         <button type=\"submit\">Email me a code</button>\n</form>\n",
        server = escape(form.server_name),
        alert = alert(error),
        open = form.open("email"),
        value = escape(value),
    );
    layout("Sign in", form.server_name, &body)
}

/// Step 2: the one-time code, with a way to have another one sent.
pub(crate) fn code_page(form: &Form, email: &str, error: Option<&str>, digits: usize) -> String {
    let body = format!(
        "<p>We emailed a {digits}-digit code to <strong>{email}</strong>. It expires in 10 \
         minutes.</p>\n{alert}{open}<label for=\"code\">Code</label>\n\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" required maxlength=\"20\" autofocus>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n\
         {resend}<input type=\"hidden\" name=\"email\" value=\"{email}\">\n\
         <button type=\"submit\" class=\"secondary\">Send a new code</button>\n</form>\n",
        email = escape(email),
        alert = alert(error),
        open = form.open("code"),
        resend = form.open("email"),
    );
    layout("Enter your code", form.server_name, &body)
}

/// What the consent page tells about the client.
pub(crate) struct ConsentFacts<'a> {
    pub client_name: Option<&'a str>,
    pub client_id: &'a str,
    /// For a client known by its metadata document (CIMD): the host that serves it. That
    /// host is the one fact about the client the platform has checked; the name inside the
    /// document is whatever its author chose.
    pub document_host: Option<&'a str>,
    pub redirect_target: &'a str,
    pub email: &'a str,
}

/// Step 3: consent, naming the client and where the browser returns.
pub(crate) fn consent_page(form: &Form, facts: &ConsentFacts) -> String {
    let client = match facts.client_name {
        Some(name) => format!(
            "{} <span class=\"note\">(name given by the app itself)</span>",
            escape(name)
        ),
        None => "An app".to_owned(),
    };
    let publisher = match facts.document_host {
        Some(host) => format!(
            "<dt>Described by</dt><dd><strong>{}</strong> (the app's description was \
             fetched from there)</dd>\n",
            escape(host)
        ),
        None => String::new(),
    };
    let body = format!(
        "<p><strong>{client}</strong> wants to use <strong>{server}</strong> for you, \
         signed in as <strong>{email}</strong>.</p>\n\
         <dl>\n<dt>App</dt><dd><code>{client_id}</code></dd>\n{publisher}\
         <dt>After you decide, your browser goes to</dt><dd><strong>{target}</strong></dd>\n</dl>\n\
         <p>Allow it only if you started this from an app you trust.</p>\n\
         {open}<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\n\
         </form>\n",
        server = escape(form.server_name),
        email = escape(facts.email),
        client_id = escape(facts.client_id),
        target = escape(facts.redirect_target),
        open = form.open("consent"),
    );
    layout("Allow access?", form.server_name, &body)
}

/// A page that only says something: an error, a locked session, the end.
pub(crate) fn message_page(title: &str, server_name: &str, message: &str) -> String {
    let body = format!("<p>{}</p>\n", escape(message));
    layout(title, server_name, &body)
}

/// A page that explains why a sign-in cannot go on and offers the way back to the app,
/// which the person may follow or not.
pub(crate) fn return_page(server_name: &str, message: &str, url: &str, target: &str) -> String {
    let body = format!(
        "<p>{}</p>\n<p><a href=\"{}\" rel=\"noreferrer\">Return to {}</a></p>\n",
        escape(message),
        escape(url),
        escape(target),
    );
    layout("Cannot sign in", server_name, &body)
}

pub(crate) fn layout(title: &str, server_name: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · {server}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <main>\n<p class=\"brand\">{server}</p>\n<h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n",
        title = escape(title),
        server = escape(server_name),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1b1f24;margin:0}\
main{max-width:28rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}\
h1{font-size:1.4rem;margin:.25rem 0 1rem}.brand{color:#57606a;margin:0}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #8c959f;border-radius:6px}\
button{font-size:1rem;margin:1rem .5rem 0 0;padding:.5rem 1rem;border-radius:6px;border:1px solid #1f6feb;\
background:#1f6feb;color:#fff;cursor:pointer}button.secondary{background:#fff;color:#1f6feb}\
button:focus,input:focus{outline:3px solid #80b3ff;outline-offset:1px}\
.error{color:#a40e26;font-weight:600}.note{color:#57606a;font-weight:400}\
dt{color:#57606a}dd{margin:0 0 .5rem}code{word-break:break-all}";

/// An HTML response that no cache keeps, no frame embeds and no script runs in.
pub(crate) fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A redirect that no cache keeps: it carries a one-time value or ends a sign-in step.
pub(crate) fn uncached_redirect(url: &str) -> Response {
    let mut response = Redirect::to(url).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What the consent page names as the place the browser returns to: the host, or the
/// scheme of a native app.
pub(crate) fn redirect_target(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(url) => match url.host_str() {
            Some(host) if !host.is_empty() => match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            },
            _ => format!("the app that opens {}: links", url.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

/// An error page (before the client's redirect URI is known to be good, errors are
/// shown here rather than sent to it).
pub(crate) fn error_page(status: StatusCode, server_name: &str, message: &str) -> Response {
    html(status, message_page("Cannot sign in", server_name, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_outside_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let form = Form {
            server_name: "<script>",
            action_base: "http://h/login/x",
            csrf_token: "t\"k",
        };
        let page = email_page(&form, Some("<b>"), "\"><img>");
        assert!(!page.contains("<script>") && !page.contains("<img>") && !page.contains("<b>"));
        assert!(page.contains("name=\"csrf_token\" value=\"t&quot;k\""));
        assert!(page.contains("name=\"email\""));
    }

    #[test]
    fn the_consent_page_names_the_redirect_host() {
        assert_eq!(
            redirect_target("http://127.0.0.1:33418/cb"),
            "127.0.0.1:33418"
        );
        assert_eq!(redirect_target("https://vscode.dev/redirect"), "vscode.dev");
        assert!(redirect_target("com.example.app:/cb").contains("com.example.app"));
    }

    #[test]
    fn the_consent_page_names_client_and_target() {
        let form = Form {
            server_name: "Acme",
            action_base: "http://h/login/x",
            csrf_token: "t",
        };
        let facts = ConsentFacts {
            client_name: Some("Cursor"),
            client_id: "cli_1",
            document_host: None,
            redirect_target: "127.0.0.1:3000",
            email: "ada@example.com",
        };
        let page = consent_page(&form, &facts);
        for needle in [
            "Cursor",
            "127.0.0.1:3000",
            "ada@example.com",
            "value=\"approve\"",
            "value=\"deny\"",
            "name=\"decision\"",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
    }

    #[test]
    fn a_metadata_documents_host_is_the_checked_fact_not_its_name() {
        let form = Form {
            server_name: "Acme",
            action_base: "http://h/login/x",
            csrf_token: "t",
        };
        let facts = ConsentFacts {
            client_name: Some("Cursor"),
            client_id: "https://evil.example/client.json",
            document_host: Some("evil.example"),
            redirect_target: "127.0.0.1:3000",
            email: "ada@example.com",
        };
        let page = consent_page(&form, &facts);
        assert!(
            page.contains("Cursor <span class=\"note\">(name given by the app itself)"),
            "{page}"
        );
        assert!(
            page.contains("<dt>Described by</dt><dd><strong>evil.example</strong>"),
            "{page}"
        );
    }
}
