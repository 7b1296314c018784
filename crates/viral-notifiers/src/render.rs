//! What an alert says to a person, by e-mail or in Slack. Written for someone reading it
//! on a phone: the first line alone tells what and how much; the rest adds when, against
//! what baseline, which rule, and the posts themselves, so nobody has to open a dashboard
//! to know why.

use viral_core::link::web_url;
use viral_core::time::format_rfc3339;
use viral_core::{Alert, AlertStatus, Sample};

/// Slack's documented limit on a section's text, in characters.
pub(crate) const SLACK_SECTION_CHARS: usize = 3000;
/// Slack's documented limit on each text of a section's `fields`, in characters.
pub(crate) const SLACK_FIELD_CHARS: usize = 2000;

/// A sample's link, only when it is a web address (in its normalised form): a sample's
/// url comes from whoever wrote the post, and a `javascript:` link in an e-mail or a
/// Slack message is the author's code one click away. The sources drop such URLs already;
/// this holds for messages that did not come through them.
fn link(s: &Sample) -> Option<String> {
    s.url.as_deref().and_then(web_url)
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn window_len(a: &Alert) -> String {
    let secs = (a.window_end - a.window_start).num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

fn expected(a: &Alert) -> Option<String> {
    a.expected.map(|e| thousands(e.round().max(0.0) as u64))
}

pub fn subject(prefix: &str, a: &Alert) -> String {
    let base = match a.status {
        AlertStatus::Firing => format!(
            "{prefix} {} is spiking: {} mentions in {}",
            a.topic,
            thousands(a.count),
            window_len(a)
        ),
        AlertStatus::Resolved => format!(
            "{prefix} {} is back to normal: {} mentions in {}",
            a.topic,
            thousands(a.count),
            window_len(a)
        ),
    };
    match expected(a) {
        Some(e) => format!("{base} (usually ~{e})"),
        None => base,
    }
}

/// The facts, as (label, value) rows, shared by both parts.
fn facts(a: &Alert) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Topic", a.topic.clone()),
        ("Status", a.status.as_str().to_owned()),
        ("Mentions", thousands(a.count)),
    ];
    if let Some(e) = expected(a) {
        rows.push(("Expected", format!("~{e}")));
    }
    if let Some(b) = a.band {
        let (low, high) = (b.low.max(0.0).floor() as u64, b.high.max(0.0).ceil() as u64);
        rows.push((
            "Normal range",
            format!(
                "{}–{} (fires at {} and above)",
                thousands(low),
                thousands(high),
                thousands(high)
            ),
        ));
    }
    rows.extend([
        (
            "Window",
            format!(
                "{} – {} UTC",
                format_rfc3339(&a.window_start),
                format_rfc3339(&a.window_end)
            ),
        ),
        ("Detector", format!("{} (score {:.2})", a.detector, a.score)),
        ("Incident since", format_rfc3339(&a.started_at)),
        ("Incident id", a.id.clone()),
    ]);
    rows
}

pub fn text(a: &Alert) -> String {
    let mut out = String::new();
    let headline = match a.status {
        AlertStatus::Firing => format!("{} is getting unusual attention.\n\n", a.topic),
        AlertStatus::Resolved => format!("{} is back to its usual level.\n\n", a.topic),
    };
    out.push_str(&headline);
    for (label, value) in facts(a) {
        out.push_str(&format!("{label:<15} {value}\n"));
    }
    if !a.samples.is_empty() {
        out.push_str("\nWhat people are saying:\n");
        for s in &a.samples {
            out.push_str(&format!("  - {}\n", s.text.replace('\n', " ")));
            if let Some(url) = link(s) {
                out.push_str(&format!("    {url}\n"));
            }
        }
    }
    out.push_str("\n-- \nviral: counts mentions, tells you when they are abnormal.\n");
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn html(a: &Alert) -> String {
    let colour = match a.status {
        AlertStatus::Firing => "#b42318",
        AlertStatus::Resolved => "#067647",
    };
    let headline = match a.status {
        AlertStatus::Firing => format!("{} is getting unusual attention", esc(&a.topic)),
        AlertStatus::Resolved => format!("{} is back to its usual level", esc(&a.topic)),
    };
    let mut rows = String::new();
    for (label, value) in facts(a) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding:4px 12px 4px 0;color:#475467\">{label}</th>\
             <td style=\"padding:4px 0\">{}</td></tr>",
            esc(&value)
        ));
    }
    let mut samples = String::new();
    if !a.samples.is_empty() {
        samples.push_str("<h3 style=\"margin:20px 0 8px\">What people are saying</h3><ul>");
        for s in &a.samples {
            samples.push_str("<li style=\"margin-bottom:8px\">");
            samples.push_str(&esc(&s.text));
            if let Some(url) = link(s) {
                samples.push_str(&format!(" — <a href=\"{}\">open</a>", esc(&url)));
            }
            samples.push_str("</li>");
        }
        samples.push_str("</ul>");
    }
    format!(
        "<!doctype html><html><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;\
         color:#101828;max-width:640px\"><h2 style=\"color:{colour};margin-bottom:4px\">{headline}</h2>\
         <p style=\"margin-top:0;font-size:18px\"><strong>{count}</strong> mentions{expected}</p>\
         <table>{rows}</table>{samples}<p style=\"color:#667085;font-size:12px;margin-top:24px\">\
         Sent by viral.</p></body></html>",
        count = thousands(a.count),
        expected = expected(a)
            .map(|e| format!(" (usually ~{e})"))
            .unwrap_or_default(),
    )
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `s` escaped for mrkdwn in at most `max` characters (the escapes counted as sent): cut
/// on a character boundary, never inside an escape, and marked with `…` when cut.
fn slack_esc_within(s: &str, max: usize) -> String {
    let whole = slack_esc(s);
    if whole.chars().count() <= max {
        return whole;
    }
    let mut out = String::new();
    let mut used = 0;
    let mut piece = [0u8; 4];
    for ch in s.chars() {
        let escaped: &str = match ch {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            c => c.encode_utf8(&mut piece),
        };
        let n = escaped.chars().count();
        // One character is kept for the ellipsis.
        if used + n + 1 > max {
            break;
        }
        out.push_str(escaped);
        used += n;
    }
    out.push('…');
    out
}

/// A web URL as the target of a mrkdwn link `<url|text>`: besides the escapes, a `|`
/// would end the URL and let the rest of it pose as the link's text, so it is
/// percent-encoded (the same URL to a browser).
fn slack_link_target(url: &str) -> String {
    slack_esc(&url.replace('|', "%7C"))
}

/// The sample posts as one mrkdwn section text of at most [`SLACK_SECTION_CHARS`]: each
/// post on its line (shortened when needed, its link kept whole), and as many posts as fit.
fn slack_samples(samples: &[Sample]) -> String {
    /// A post shown in fewer characters than this is not worth a line.
    const MIN_TEXT: usize = 40;
    let mut out = String::new();
    for s in samples {
        let link = link(s)
            .map(|u| format!(" <{}|open>", slack_link_target(&u)))
            .unwrap_or_default();
        let sep = usize::from(!out.is_empty());
        let fixed = sep + 2 + link.chars().count();
        let used = out.chars().count();
        let Some(room) = SLACK_SECTION_CHARS.checked_sub(used + fixed) else {
            break;
        };
        if room < MIN_TEXT {
            break;
        }
        if sep == 1 {
            out.push('\n');
        }
        out.push_str("• ");
        out.push_str(&slack_esc_within(&s.text.replace('\n', " "), room));
        out.push_str(&link);
    }
    out
}

/// A Slack incoming-webhook message: `text` (the notification line, and what clients
/// without blocks show) and Block Kit `blocks` with the facts and the sample posts, every
/// text within Slack's documented limits.
pub fn slack(prefix: &str, a: &Alert) -> serde_json::Value {
    let title = subject(prefix, a);
    let fields: Vec<serde_json::Value> = facts(a)
        .into_iter()
        .map(|(label, value)| {
            let value = slack_esc_within(&value, SLACK_FIELD_CHARS - label.len() - 3);
            serde_json::json!({"type": "mrkdwn", "text": format!("*{label}*\n{value}")})
        })
        .collect();
    let headline = slack_esc_within(&title, SLACK_SECTION_CHARS - 2);
    let mut blocks = vec![
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*")}}),
    ];
    // Slack allows at most 10 fields per section.
    for chunk in fields.chunks(10) {
        blocks.push(serde_json::json!({"type": "section", "fields": chunk}));
    }
    let samples = slack_samples(&a.samples);
    if !samples.is_empty() {
        blocks.push(
            serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": samples}}),
        );
    }
    serde_json::json!({"text": title, "blocks": blocks})
}

#[cfg(test)]
pub(crate) mod tests {
    use viral_core::time::from_millis;

    use super::*;

    /// A firing threshold alert on ocean-spray with these sample posts (the notifiers'
    /// tests share it).
    pub(crate) fn alert(samples: Vec<Sample>) -> Alert {
        Alert {
            id: "ocean-spray:threshold:2020-09-25T18:00:00Z".into(),
            topic: "ocean-spray".into(),
            detector: "threshold".into(),
            status: AlertStatus::Firing,
            window_start: from_millis(1_601_056_800_000),
            window_end: from_millis(1_601_058_600_000),
            count: 25_000,
            expected: None,
            band: None,
            score: 1.25,
            started_at: from_millis(1_601_056_800_000),
            samples,
        }
    }

    fn sample(text: &str, url: &str) -> Sample {
        Sample {
            text: text.into(),
            url: Some(url.into()),
        }
    }

    const HOSTILE: [&str; 4] = [
        "javascript:alert(document.domain)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ];

    #[test]
    fn only_web_addresses_become_links_in_e_mails() {
        let mut samples: Vec<Sample> = HOSTILE.iter().map(|u| sample("ocean spray", u)).collect();
        samples.push(sample("ocean spray", "https://example.com/p/1"));
        let a = alert(samples);
        let html = html(&a);
        assert_eq!(html.matches("<a href=").count(), 1, "{html}");
        assert!(html.contains(r#"<a href="https://example.com/p/1">open</a>"#));
        let text = text(&a);
        for bad in HOSTILE {
            assert!(!html.contains(bad) && !text.contains(bad), "{bad}");
        }
        assert!(
            html.to_lowercase().matches("script:").count() == 0,
            "{html}"
        );
        assert!(text.contains("    https://example.com/p/1\n"), "{text}");
    }

    #[test]
    fn slack_links_are_web_addresses_whose_text_cannot_be_spoofed() {
        let a = alert(vec![
            sample(
                "spoof",
                "https://evil.example/|Your account is locked, click",
            ),
            sample("angle", "https://evil.example/x>y<z&w"),
            sample("script", HOSTILE[0]),
        ]);
        let v = slack("[viral]", &a);
        let samples = v["blocks"].as_array().unwrap().last().unwrap()["text"]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            samples,
            "• spoof <https://evil.example/%7CYour%20account%20is%20locked,%20click|open>\n\
             • angle <https://evil.example/x%3Ey%3Cz&amp;w|open>\n\
             • script"
        );
    }

    #[test]
    fn slack_texts_stay_within_slacks_limits_cut_on_character_boundaries() {
        let long = "é&<".repeat(1700);
        let a = alert(
            (0..5)
                .map(|i| sample(&format!("{i} {long}"), "https://example.com/p"))
                .collect(),
        );
        let v = slack("[viral]", &a);
        for block in v["blocks"].as_array().unwrap() {
            if let Some(t) = block["text"]["text"].as_str() {
                assert!(t.chars().count() <= SLACK_SECTION_CHARS, "{}", t.len());
            }
            for f in block["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= SLACK_FIELD_CHARS);
            }
        }
        let samples = v["blocks"].as_array().unwrap().last().unwrap()["text"]["text"]
            .as_str()
            .unwrap();
        // The first post, cut, with its link whole; no escape cut in half.
        assert!(samples.starts_with("• 0 é&amp;&lt;é"), "{samples}");
        assert!(
            samples.ends_with("… <https://example.com/p|open>"),
            "{samples}"
        );
        let cut = samples.trim_end_matches("… <https://example.com/p|open>");
        assert!(cut.ends_with('é') || cut.ends_with(';'), "{cut}");
        assert!(samples.chars().count() > SLACK_SECTION_CHARS - 10);

        // Short posts all fit, one per line.
        let short = alert(
            (0..5)
                .map(|i| sample(&format!("post {i}"), "https://example.com/p"))
                .collect(),
        );
        let v = slack("[viral]", &short);
        let text = v["blocks"].as_array().unwrap().last().unwrap()["text"]["text"]
            .as_str()
            .unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
    }
}
