//! What an alert says to a person, by e-mail or in Slack. Written for someone reading it
//! on a phone: the first line alone tells what and how much; the rest adds when, against
//! what baseline, which rule, and the posts themselves, so nobody has to open a dashboard
//! to know why.

use viral_core::time::format_rfc3339;
use viral_core::{Alert, AlertStatus};

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
            if let Some(url) = &s.url {
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
            if let Some(url) = &s.url {
                samples.push_str(&format!(" — <a href=\"{}\">open</a>", esc(url)));
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

/// A Slack incoming-webhook message: `text` (the notification line, and what clients
/// without blocks show) and Block Kit `blocks` with the facts and the sample posts.
pub fn slack(prefix: &str, a: &Alert) -> serde_json::Value {
    let title = subject(prefix, a);
    let fields: Vec<serde_json::Value> = facts(a)
        .into_iter()
        .map(|(label, value)| {
            serde_json::json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", slack_esc(&value))})
        })
        .collect();
    let mut blocks = vec![
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*", slack_esc(&title))}}),
    ];
    // Slack allows at most 10 fields per section.
    for chunk in fields.chunks(10) {
        blocks.push(serde_json::json!({"type": "section", "fields": chunk}));
    }
    if !a.samples.is_empty() {
        let lines: Vec<String> = a
            .samples
            .iter()
            .map(|s| match &s.url {
                Some(url) => format!("• {} <{}|open>", slack_esc(&s.text), slack_esc(url)),
                None => format!("• {}", slack_esc(&s.text)),
            })
            .collect();
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}));
    }
    serde_json::json!({"text": title, "blocks": blocks})
}
