//! Mastodon statuses (the `data` of an `update` event) turned into Posts, their HTML
//! content into plain text. Pure, so every shape of status is tested without a server.

use html2text::render::TrivialDecorator;
use serde::Deserialize;
use viral_core::link::web_url;
use viral_core::time::parse_rfc3339;
use viral_core::Post;

use super::SOURCE;

/// Rendering width: wide enough that html2text never wraps a paragraph.
const WIDTH: usize = 1 << 16;

#[derive(Deserialize)]
struct Status {
    uri: String,
    created_at: String,
    content: String,
    #[serde(default)]
    spoiler_text: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    language: Option<String>,
    account: Account,
    #[serde(default)]
    reblog: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Account {
    acct: String,
}

/// Why a status could not be used: a metrics kind and a detail for the log.
pub type Bad = (&'static str, String);

/// The post in a status; `None` for a boost (the boosted status is not a new mention).
/// `domain` is the instance's, added to local accounts' names (`user@domain`) so that
/// authors are unambiguous across instances.
pub fn parse(data: &str, domain: &str) -> Result<Option<Post>, Bad> {
    let status: Status =
        serde_json::from_str(data).map_err(|e| ("invalid_json", format!("not a status: {e}")))?;
    if status.reblog.as_ref().is_some_and(|r| !r.is_null()) {
        return Ok(None);
    }
    if status.uri.is_empty() {
        return Err(("invalid_post", "a status without a uri".into()));
    }
    let created_at = parse_rfc3339(&status.created_at).map_err(|e| {
        (
            "invalid_post",
            format!("created_at {:?}: {e}", status.created_at),
        )
    })?;
    let content = html_to_text(&status.content);
    // A content warning is part of what was written, and often names the topic.
    let text = match status.spoiler_text.trim() {
        "" => content,
        cw => format!("{cw}\n{content}"),
    };
    let author = if status.account.acct.contains('@') || domain.is_empty() {
        status.account.acct
    } else {
        format!("{}@{domain}", status.account.acct)
    };
    Ok(Some(Post {
        id: format!("{SOURCE}:{}", status.uri),
        source: SOURCE.to_owned(),
        text,
        created_at,
        observed_at: None,
        author: Some(author),
        // `url` is whatever the status's server says; only a web address is a link.
        url: status
            .url
            .as_deref()
            .and_then(web_url)
            .or_else(|| web_url(&status.uri)),
        lang: status.language.filter(|l| !l.is_empty()),
    }))
}

/// Mastodon's status HTML as the text a reader sees: paragraphs and line breaks become
/// newlines, links their visible text (the full URL for a shortened one), entities
/// decoded; no markup, no link footnotes.
pub(crate) fn html_to_text(html: &str) -> String {
    let rendered = html2text::config::with_decorator(TrivialDecorator::new())
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH)
        // html2text only fails on a width too narrow, which WIDTH and the overflow rule
        // out; the markup-stripped fallback keeps the post in any case.
        .unwrap_or_else(|_| html.to_owned());
    rendered
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}
