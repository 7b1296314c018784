//! The filtered stream's rules, kept equal to the tracked topics: one rule per topic
//! (more when its terms do not fit in one), tagged with the topic's name, each term an
//! exact phrase: `("ocean spray" OR "oceanspray") -is:retweet`. X only pre-filters; every
//! post is still matched by viral's own matcher, so X's looser phrase matching costs
//! nothing but a few posts that match no topic.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::backoff::Failure;
use crate::InvalidConfig;

/// X accepts at most this many rules per add request.
const ADD_BATCH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub value: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Debug, Deserialize)]
struct ExistingRule {
    id: String,
    value: String,
    #[serde(default)]
    tag: String,
}

#[derive(Debug, Deserialize)]
struct RulesPage {
    #[serde(default)]
    data: Vec<ExistingRule>,
}

/// An exact-phrase operand: `"ocean spray"`, with `"` and `\` escaped.
fn phrase(term: &str) -> String {
    let escaped = term.trim().replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

fn rule_value(phrases: &[String], suffix: &str) -> String {
    let body = match phrases {
        [one] => one.clone(),
        many => format!("({})", many.join(" OR ")),
    };
    if suffix.is_empty() {
        body
    } else {
        format!("{body} {suffix}")
    }
}

/// The rules for `topics` (name, terms), none longer than `max_len` characters.
pub fn desired(
    topics: &[(String, Vec<String>)],
    suffix: &str,
    max_len: usize,
) -> Result<Vec<Rule>, InvalidConfig> {
    let suffix = suffix.trim();
    let mut out = Vec::new();
    for (name, terms) in topics {
        let mut group: Vec<String> = Vec::new();
        for term in terms.iter().filter(|t| !t.trim().is_empty()) {
            let p = phrase(term);
            if rule_value(std::slice::from_ref(&p), suffix).chars().count() > max_len {
                return Err(InvalidConfig::new(
                    "max_rule_length",
                    format!("topic {name:?}: the term {term:?} alone makes a rule longer than {max_len} characters"),
                ));
            }
            group.push(p);
            if rule_value(&group, suffix).chars().count() > max_len {
                let last = group.pop().unwrap_or_default();
                out.push(Rule {
                    value: rule_value(&group, suffix),
                    tag: name.clone(),
                });
                group = vec![last];
            }
        }
        if !group.is_empty() {
            out.push(Rule {
                value: rule_value(&group, suffix),
                tag: name.clone(),
            });
        }
    }
    Ok(out)
}

/// What a sync changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub added: usize,
    pub deleted: usize,
    /// Rules X refused (invalid, duplicate…), with its reasons.
    pub refused: Vec<String>,
}

/// Why a sync did not finish: the failure's kind decides the backoff.
#[derive(Debug)]
pub struct SyncError {
    pub failure: Failure,
    pub until_reset: Option<Duration>,
    pub message: String,
}

/// Talks to the rules endpoint.
pub(crate) struct RulesApi<'a> {
    pub client: &'a reqwest::Client,
    pub api: &'a Url,
    pub token: &'a str,
    pub timeout: Duration,
}

impl RulesApi<'_> {
    fn url(&self) -> Url {
        let mut url = self.api.clone();
        url.set_path("/2/tweets/search/stream/rules");
        url
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, SyncError> {
        let response = request
            .bearer_auth(self.token)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| SyncError {
                failure: Failure::Network,
                until_reset: None,
                message: format!("rules: {e}"),
            })?;
        let status = response.status();
        let until_reset = super::until_reset(response.headers());
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let (failure, until_reset) = if status == StatusCode::TOO_MANY_REQUESTS {
                (Failure::RateLimited, until_reset)
            } else {
                (Failure::Http, None)
            };
            return Err(SyncError {
                failure,
                until_reset,
                message: format!("rules: X answered {status}: {}", super::excerpt(&body)),
            });
        }
        serde_json::from_str(&body).map_err(|e| SyncError {
            failure: Failure::Http,
            until_reset: None,
            message: format!("rules: an answer that is not JSON ({e})"),
        })
    }

    /// Make the app's rules equal to `want`: delete the others first (X caps the number
    /// of rules), then add the missing ones.
    pub async fn sync(&self, want: &[Rule]) -> Result<Synced, SyncError> {
        let page = self.send(self.client.get(self.url())).await?;
        let existing: RulesPage = serde_json::from_value(page).map_err(|e| SyncError {
            failure: Failure::Http,
            until_reset: None,
            message: format!("rules: unexpected answer: {e}"),
        })?;
        let wanted: HashSet<&Rule> = want.iter().collect();
        let mut have = HashSet::new();
        let mut stale = Vec::new();
        for r in existing.data {
            let rule = Rule {
                value: r.value,
                tag: r.tag,
            };
            if wanted.contains(&rule) && !have.contains(&rule) {
                have.insert(rule);
            } else {
                stale.push(r.id);
            }
        }
        let mut synced = Synced::default();
        if !stale.is_empty() {
            let body = json!({ "delete": { "ids": stale } });
            let answer = self.send(self.client.post(self.url()).json(&body)).await?;
            synced.deleted = answer
                .pointer("/meta/summary/deleted")
                .and_then(serde_json::Value::as_u64)
                .map_or(stale.len(), |n| n as usize);
        }
        let missing: Vec<&Rule> = want.iter().filter(|r| !have.contains(*r)).collect();
        for batch in missing.chunks(ADD_BATCH) {
            let body = json!({ "add": batch });
            let answer = self.send(self.client.post(self.url()).json(&body)).await?;
            synced.added += answer
                .pointer("/meta/summary/created")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0) as usize;
            if let Some(errors) = answer.get("errors").and_then(|e| e.as_array()) {
                synced
                    .refused
                    .extend(errors.iter().map(|e| super::excerpt(&e.to_string())));
            }
        }
        Ok(synced)
    }
}
