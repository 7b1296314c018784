//! Which URLs viral passes on as links. A post's `url` is written by whoever wrote the
//! post (an ingest client, a Mastodon server, a recorded file), and it ends up as a
//! clickable link in the dashboard, in e-mails and in Slack: a `javascript:` or `data:`
//! URL there runs the author's code in the reader's context. So a URL is kept only when
//! it is a plain web address; the sources drop every other one, and every renderer checks
//! again (the bus may carry messages from writers other than viral's producer).

/// A longer URL is not a link anyone follows from an alert, and it would bloat every
/// message that carries the post.
pub const MAX_URL_BYTES: usize = 2048;

/// `raw` as a web link, or `None`: an absolute `http` or `https` URL with a host and no
/// credentials (`https://bank.example@evil.example/` is a phishing classic), at most
/// [`MAX_URL_BYTES`] long. The answer is the URL in its normalised (WHATWG) form, which
/// percent-encodes spaces, quotes and angle brackets.
pub fn web_url(raw: &str) -> Option<String> {
    if raw.len() > MAX_URL_BYTES {
        return None;
    }
    let url = url::Url::parse(raw.trim()).ok()?;
    let web = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    let url = String::from(url);
    (web && url.len() <= MAX_URL_BYTES).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_addresses_are_kept() {
        assert_eq!(
            web_url("https://example.com/p/1?q=a#f").as_deref(),
            Some("https://example.com/p/1?q=a#f")
        );
        assert_eq!(
            web_url("HTTP://Example.COM").as_deref(),
            Some("http://example.com/")
        );
        assert_eq!(
            web_url(" https://example.com/a b\"<x>").as_deref(),
            Some("https://example.com/a%20b%22%3Cx%3E")
        );
        assert_eq!(
            web_url("https://bsky.app/profile/did:plc:abc/post/3k").as_deref(),
            Some("https://bsky.app/profile/did:plc:abc/post/3k")
        );
    }

    #[test]
    fn anything_else_is_dropped() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(document.domain)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "ftp://example.com/",
            "//example.com/p",
            "/relative/path",
            "example.com",
            "https://",
            "https://user:pass@example.com/",
            "https://bank.example@evil.example/",
            "",
        ] {
            assert_eq!(web_url(bad), None, "{bad:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(web_url(&long), None);
    }
}
