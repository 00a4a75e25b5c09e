//! Step content as authors see it before publishing: a Markdown preview that is safe to put
//! in the page, and the exact text an agent receives with its invisible characters made
//! visible (by [`runs`], which the gateway's review pages use too).
//!
//! The preview has two layers. pulldown-cmark renders with raw HTML turned into escaped
//! text, links kept only for http, https, mailto and relative addresses, and images shown
//! as their alt text (the page loads nothing from elsewhere). ammonia then cleans the
//! result against an allow-list, so that a parser surprise still cannot put a script, an
//! event handler or a `javascript:` address in the dashboard.

use std::collections::HashSet;
use std::sync::LazyLock;

use guidepost_domain::{AgentStep, agent_step_text, is_hidden_char, quote_delimiter_lines};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The schemes a link in a preview may have; anything else is shown as plain text.
const LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut cleaner = ammonia::Builder::default();
    cleaner
        .url_schemes(HashSet::from(LINK_SCHEMES))
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tags(["img"]);
    cleaner
});

/// Markdown rendered to HTML that is safe to insert in a dashboard page as is.
pub(crate) fn safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut dropped_links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        // An HTML block becomes a paragraph of its (escaped) text.
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let allowed = allowed_destination(dest_url);
            dropped_links.push(!allowed);
            allowed.then_some(event)
        }
        Event::End(TagEnd::Link) => match dropped_links.pop() {
            Some(true) => None,
            _ => Some(event),
        },
        // The alt text between an image's start and end stays, as text.
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    CLEANER.clean(&html).to_string()
}

/// Whether a link may point there: a relative address, or one of [`LINK_SCHEMES`].
/// Whitespace and control characters are ignored, as browsers ignore them in schemes.
fn allowed_destination(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    match cleaned.find([':', '/', '?', '#']) {
        Some(at) if cleaned[at..].starts_with(':') => LINK_SCHEMES.contains(&&cleaned[..at]),
        _ => true,
    }
}

/// A run of text: visible characters as they are, or one hidden character named by its
/// code point (`U+200B`), which the page shows as a badge.
pub(crate) struct Shown {
    pub text: String,
    pub hidden: bool,
}

/// The exact text an agent receives for `step`, in runs. Hidden characters of the content,
/// which the tools strip, are runs of their own (those of the titles, stripped too, are
/// not shown); lines of the content that could pass for its delimiters are quoted, as the
/// tools quote them.
pub(crate) fn agent_view(step: &AgentStep) -> Vec<Shown> {
    // The frame around the content, split at a marker that no id contains; the titles
    // come before the content, so the last occurrence is the marker itself.
    const MARKER: &str = "\u{E000}guidepost-step-content\u{E000}";
    let framed = agent_step_text(&AgentStep {
        content: MARKER,
        ..*step
    });
    match framed.rsplit_once(MARKER) {
        Some((before, after)) => [before, &quote_delimiter_lines(step.content), after]
            .into_iter()
            .flat_map(runs)
            .collect(),
        None => runs(&agent_step_text(step)),
    }
}

/// A text cut into runs: visible characters together, each hidden character (control,
/// invisible or bidirectional: what hides words from people but not from models) alone,
/// named by its code point. The agent view and the gateway's review pages both show text
/// this way.
pub(crate) fn runs(text: &str) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    for c in text.chars() {
        if is_hidden_char(c) {
            shown.push(Shown {
                text: format!("U+{:04X}", u32::from(c)),
                hidden: true,
            });
        } else {
            match shown.last_mut() {
                Some(last) if !last.hidden => last.text.push(c),
                _ => shown.push(Shown {
                    text: c.to_string(),
                    hidden: false,
                }),
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html =
            safe_html("# Title\n\nSome *emphasis* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"));
        assert!(html.contains("<code>code</code>"));
        assert!(html.contains("<table>"));
    }

    #[test]
    fn raw_html_is_shown_as_text_never_as_tags() {
        for sneaky in [
            "<script>alert(1)</script>",
            "Hello <script>alert(1)</script> inline",
            "<img src=x onerror=alert(1)>",
            "<div onclick=\"alert(1)\">click</div>",
            "<iframe src=\"https://evil.example\"></iframe>",
        ] {
            let html = safe_html(sneaky);
            // The words stay, as text; no element of the input (or its attributes) does.
            for tag in ["<script", "<img", "<div", "<iframe"] {
                assert!(!html.contains(tag), "{sneaky:?} gave {html}");
            }
            assert!(html.contains("&lt;"), "{sneaky:?} is shown escaped: {html}");
        }
        assert!(
            safe_html("<script>alert(1)</script>")
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
        );
    }

    #[test]
    fn only_safe_link_schemes_survive() {
        for bad in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](java\tscript:alert(1))",
            "[x](&#106;avascript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "<javascript:alert(1)>",
            "[x][r]\n\n[r]: javascript:alert(1)",
        ] {
            let html = safe_html(bad);
            // At most the address as text: never a link.
            assert!(
                !html.contains("<a") && !html.contains("href"),
                "{bad:?} gave {html}"
            );
        }
        let good = safe_html(
            "[docs](https://example.com/a) [rel](/app/x) [mail](mailto:a@example.com) [frag](#top)",
        );
        assert!(good.contains("href=\"https://example.com/a\""), "{good}");
        assert!(good.contains("href=\"/app/x\""));
        assert!(good.contains("href=\"mailto:a@example.com\""));
        assert!(good.contains("href=\"#top\""));
        assert!(good.contains("rel=\"noopener noreferrer nofollow\""));
    }

    #[test]
    fn images_are_shown_as_their_alt_text() {
        let html = safe_html("![a diagram](https://elsewhere.example/x.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("a diagram"));
    }

    #[test]
    fn the_agent_view_is_the_agent_text_with_hidden_characters_marked() {
        let step = AgentStep {
            walkthrough_title: "Intro",
            walkthrough_id: "wt_1",
            position: 2,
            total: 3,
            section_title: Some("Setup"),
            step_title: "Install",
            step_id: "ws_1",
            content: "Run\u{200B} this\u{202E}",
        };
        let shown = agent_view(&step);
        let visible: String = shown
            .iter()
            .filter(|s| !s.hidden)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(
            visible,
            agent_step_text(&step),
            "without the badges, it is the exact text"
        );
        let badges: Vec<&str> = shown
            .iter()
            .filter(|s| s.hidden)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(badges, ["U+200B", "U+202E"]);
    }
}
