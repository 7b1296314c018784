//! The web dashboard end to end in a real browser: `viral standalone` runs the demo, and
//! headless Chromium (Debian's `chromium` and `chromium-driver`) loads the pages over
//! WebDriver. The overview lists the demo topic, the topic page draws the chart, a live
//! window close (server-sent event) adds a window to it, and the demo spike's incident is
//! marked on the time axis; the backtest view finds it too. Screenshots are kept under
//! `target/dashboard/`.
//!
//! WebDriver is a small JSON-over-HTTP protocol, spoken here with the `reqwest` the tests
//! already use rather than a WebDriver crate: fewer dependencies to build on CI. Without
//! Chromium and chromedriver the test fails (CI installs them); it never skips. Every wait
//! polls the DOM until a deadline: no fixed sleep is used as synchronisation.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use viral_integration_tests::config::{quoted, TestConfig};

const DEADLINE: Duration = Duration::from_secs(120);

/// The demo, with its spike five simulated hours in.
fn demo() -> TestConfig {
    TestConfig::demo()
        .detector("adaptive")
        .threshold(1500)
        .with("[sources.synthetic]\nspeed = 600.0\nspike_after = \"5h\"\nspike_duration = \"24h\"")
}

/// A program on PATH, or a loud failure naming the Debian package.
fn program(names: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("{names:?} not found on PATH: install Debian's `{package}` (apt-get install -y chromium chromium-driver); this test does not skip");
}

/// chromedriver in a process group of its own, which the browsers it starts join: the
/// whole group is killed when this is dropped, whether the test passed or failed.
/// (Killing chromedriver alone orphans Chromium, ~300 MB a run.)
struct Driver {
    pgid: u32,
    base: String,
    _child: Child,
}

impl Driver {
    /// Start it on a port it picks itself (`--port=0`) and read that port from its
    /// start-up line.
    async fn start() -> Self {
        let program = program(&["chromedriver"], "chromium-driver");
        let mut child = Command::new(program)
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().expect("a piped stdout");
        let pgid = child.id().expect("a running chromedriver");
        // From here on a failure still kills the group (`driver` is dropped).
        let mut driver = Self {
            pgid,
            base: String::new(),
            _child: child,
        };
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(DEADLINE, async {
            while let Ok(Some(line)) = lines.next_line().await {
                // "ChromeDriver was started successfully on port 41234."
                if let Some((_, port)) = line.split_once("started successfully on port ") {
                    return port.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver reports its port");
        // Keep reading, so chromedriver never writes to a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        driver.base = format!("http://127.0.0.1:{port}");
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pgid)])
            .status();
    }
}

/// A WebDriver session on a chromedriver child process. Dropped, it quits the session
/// and then kills chromedriver's process group, and its profile directory goes.
struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let chromium = program(
            &["chromium", "chromium-browser", "google-chrome"],
            "chromium",
        );
        let driver = Driver::start().await;
        let profile = tempfile::tempdir().expect("a profile directory");
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let v: Value = http
            .post(format!("{}/session", driver.base))
            .json(&caps)
            .send()
            .await
            .expect("create a WebDriver session")
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"));
        Self {
            http,
            session: format!("{}/session/{id}", driver.base),
            _driver: driver,
            _profile: profile,
        }
    }

    async fn cmd(&self, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let req = match body {
            Some(b) => self.http.post(url).json(&b),
            None => self.http.get(url),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    /// Run `source` in every page this session opens, before the page's own scripts.
    async fn before_every_page(&self, source: &str) {
        let v = self
            .cmd(
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.addScriptToEvaluateOnNewDocument",
                            "params": {"source": source}})),
            )
            .await;
        assert!(v["identifier"].is_string(), "CDP refused the script: {v}");
    }

    /// Click each element `css` selects, as a user would (WebDriver's element click).
    async fn click_all(&self, css: &str) -> usize {
        let found = self
            .cmd(
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let found = found.as_array().cloned().unwrap_or_default();
        for e in &found {
            let id = e
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .expect("a WebDriver element reference");
            let v = self
                .cmd(&format!("/element/{id}/click"), Some(json!({})))
                .await;
            assert!(v.is_null(), "clicking {css}: {v}");
        }
        found.len()
    }

    async fn goto(&self, url: &str) {
        self.cmd("/url", Some(json!({ "url": url }))).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Run `script` until it returns something other than null/false, or fail.
    async fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script).await;
            if !(v.is_null() || v == false) {
                return v;
            }
            if started.elapsed() > DEADLINE {
                let dom = self.js("return document.body.innerText").await;
                panic!("timed out waiting for {what}; page text: {dom}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("/screenshot", None).await;
        let png = base64(b64.as_str().expect("a base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("dashboard");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    /// Quit the session (Chromium exits and chromedriver cleans up after it); the fields
    /// then kill whatever is left. Drop cannot await, so the request runs on a thread of
    /// its own with its own runtime.
    fn drop(&mut self) {
        let session = self.session.clone();
        let quit = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            // Built inside the runtime: the request's timeout needs its timer.
            rt.block_on(async move {
                reqwest::Client::new()
                    .delete(session)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
            })
            .ok()
        });
        let _ = quit.join();
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !b"=\r\n".contains(c))
        .map(val)
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Start `viral standalone` on `config` with its store in `dir/viral.db`; returns the
/// child (killed when dropped) and its base URL.
async fn standalone(dir: &std::path::Path, config: TestConfig) -> (Child, String) {
    let cfg = config
        .sqlite(&dir.join("viral.db"))
        .any_port()
        .json_logs()
        .write_in(dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_viral"))
        .args(["standalone", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(DEADLINE, async {
        loop {
            let line = stderr
                .next_line()
                .await
                .unwrap()
                .expect("stderr closed early");
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(url) = v["metrics"].as_str() {
                    return url.trim_end_matches("/metrics").to_owned();
                }
            }
        }
    })
    .await
    .expect("the start-up log line");
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_demo_spike_live_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start().await;
    let (_viral, base) = standalone(dir.path(), demo()).await;

    // The overview lists the demo topic, with a link to its page.
    browser.goto(&format!("{base}/")).await;
    browser
        .until(
            "the overview to list ocean-spray",
            r#"return !!document.querySelector('tr[data-topic="ocean-spray"] a[href="/topics/ocean-spray"]')"#,
        )
        .await;

    // The topic page draws the chart with at least one window.
    browser.goto(&format!("{base}/topics/ocean-spray")).await;
    let first = browser
        .until(
            "the chart to draw a window",
            r#"const s = document.querySelector('#chart svg.chart');
               return s && Number(s.dataset.points) > 0 && Number(s.dataset.last)"#,
        )
        .await;
    let first = first.as_i64().expect("data-last is a time");

    // A window closes: the server-sent event makes the chart draw it without a reload.
    let marker = browser
        .js("document.body.dataset.probe = 'same page'; return 1")
        .await;
    assert_eq!(marker, 1);
    browser
        .until(
            "a live window close to add a window to the chart",
            &format!(
                r#"const s = document.querySelector('#chart svg.chart');
                   return s && Number(s.dataset.last) > {first}"#
            ),
        )
        .await;
    let same = browser.js("return document.body.dataset.probe").await;
    assert_eq!(same, "same page", "the chart updated live, not by a reload");

    // The demo spike: an incident marker on the time axis and its sample posts listed.
    browser
        .until(
            "an incident marker after the demo spike",
            r#"return document.querySelectorAll('#chart svg.chart .fire').length > 0"#,
        )
        .await;
    browser
        .until(
            "the incident's sample posts",
            r#"return document.querySelectorAll('#incidents .samples li').length > 0"#,
        )
        .await;
    let topic_png = browser.screenshot("topic.png").await;

    // Readable on a phone: at 390 px the chart is drawn at the size it is shown (text
    // keeps its size, the plot fills its box), time labels do not overlap, value ticks
    // fall on round numbers, the axes say what and in which time zone, and a window
    // under the pointer is read out.
    browser
        .cmd("/window/rect", Some(json!({"width": 390, "height": 844})))
        .await;
    browser.goto(&format!("{base}/topics/ocean-spray")).await;
    let layout = browser
        .until(
            "the chart drawn at phone width, at the size it is shown",
            r#"const s = document.querySelector('#chart svg.chart');
               if (!s || Number(s.dataset.points) === 0) return null;
               const box = s.getBoundingClientRect(), vb = s.viewBox.baseVal;
               if (Math.abs(box.width - vb.width) > 1 || Math.abs(box.height - vb.height) > 1) return null;
               const xs = [...s.querySelectorAll('.tick-x')].map((t) => t.getBoundingClientRect());
               const px = (t) => parseFloat(getComputedStyle(t).fontSize) * box.width / vb.width;
               return {
                 width: box.width, scale: box.width / vb.width, vscale: box.height / vb.height,
                 overlap: xs.some((a, i) => i > 0 && a.left < xs[i - 1].right),
                 labels: xs.length,
                 ticks: [...s.querySelectorAll('.tick-y')].map((t) => Number(t.textContent.replace(/,/g, ''))),
                 titles: [...s.querySelectorAll('.axis-title')].map((t) => t.textContent),
                 font: Math.min(...[...s.querySelectorAll('text')].map(px)),
               };"#,
        )
        .await;
    assert!(layout["width"].as_f64().unwrap() < 400.0, "{layout}");
    for k in ["scale", "vscale"] {
        let v = layout[k].as_f64().unwrap();
        assert!((v - 1.0).abs() < 0.02, "drawn at {k} {v}: {layout}");
    }
    assert_eq!(layout["overlap"], false, "{layout}");
    assert!(layout["labels"].as_u64().unwrap() >= 2, "{layout}");
    assert!(layout["font"].as_f64().unwrap() >= 10.5, "{layout}");
    let ticks: Vec<f64> = layout["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert!(ticks.len() >= 3 && ticks[0] == 0.0, "{layout}");
    let step = ticks[1];
    let power = 10f64.powf(step.log10().floor());
    assert!(
        [1.0, 2.0, 5.0].contains(&(step / power)),
        "a tick step of {step}: {layout}"
    );
    assert!(ticks.windows(2).all(|w| w[1] - w[0] == step), "{layout}");
    assert_eq!(
        layout["titles"],
        json!(["mentions per 30m window", "UTC"]),
        "{layout}"
    );
    let read = browser
        .js(
            r#"const s = document.querySelector('#chart svg.chart'), b = s.getBoundingClientRect();
               s.dispatchEvent(new PointerEvent('pointermove',
                 { clientX: b.left + b.width / 2, clientY: b.top + b.height / 2 }));
               return s.querySelector('.readout').textContent"#,
        )
        .await;
    let read = read.as_str().unwrap_or_default().to_owned();
    assert!(
        read.contains(" UTC: ") && read.contains(" mentions"),
        "{read}"
    );
    browser.screenshot("topic-phone.png").await;
    browser
        .cmd("/window/rect", Some(json!({"width": 1280, "height": 900})))
        .await;

    // The overview puts the viral topic on top while its incident is open.
    browser.goto(&format!("{base}/")).await;
    // (The spike lasts a simulated day, so its incident is still open here.)
    browser
        .until(
            "ocean-spray on top of the overview, going viral",
            r#"const r = document.querySelector('#topics tbody tr');
               return r && r.dataset.topic === 'ocean-spray' && r.classList.contains('viral')"#,
        )
        .await;
    browser.screenshot("overview.png").await;

    // The backtest view: a threshold at the stored peak would have fired on the spike.
    browser.goto(&format!("{base}/backtest")).await;
    browser
        .until(
            "the backtest form",
            "return !!document.querySelector('#bt-form option')",
        )
        .await;
    // The bar: the spike's peak as stored (read through the same API), so it must fire.
    browser
        .js(r#"window.peak = null;
               fetch('/api/v1/topics/ocean-spray/counts?limit=5000&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z')
                 .then(r => r.json()).then(p => { window.peak = Math.max(...p.counts.map(c => c.count)); });
               return 1"#)
        .await;
    let peak = browser.until("the stored peak", "return window.peak").await;
    browser
        .js(&format!(
            r#"document.querySelector('#bt-topic').value = 'ocean-spray';
               const k = document.querySelector('#bt-detector'); k.value = 'threshold';
               k.dispatchEvent(new Event('change'));
               document.querySelector('#bt-threshold').value = '{peak}';
               document.querySelector('#bt-form button').click(); return 1"#
        ))
        .await;
    let heading = browser
        .until(
            "the backtest result",
            r#"const h = document.querySelector('#bt-result h2'); return h && h.textContent"#,
        )
        .await;
    let heading = heading.as_str().unwrap_or_default().to_owned();
    assert!(
        heading.starts_with("threshold: ") && !heading.contains(": 0 incidents"),
        "the backtest finds the spike: {heading}"
    );
    browser
        .until(
            "backtest incident markers",
            "return document.querySelectorAll('#chart svg.chart .fire').length > 0",
        )
        .await;
    browser.screenshot("backtest.png").await;
    eprintln!("screenshots next to {}", topic_png.display());
}

/// A topic with a day of stored windows and one incident whose sample posts carry the
/// links an attacker would send: script, data and whitespace-prefixed script URLs, and a
/// plain web address.
fn hostile_config(posts: &std::path::Path) -> TestConfig {
    TestConfig::empty()
        .topic("ocean-spray", &["ocean spray"])
        // Never mentioned (the file is empty): the overview must not call it "normal".
        .topic("cranberry", &["cranberry"])
        .window("30m")
        .threshold(1000)
        .with(&format!(
            "[sources.file]\npath = {}",
            quoted(&posts.display().to_string())
        ))
}

const SCRIPT: &str = "javascript:void(document.body.dataset.pwned='yes')";

async fn store_hostile_incident(db: &std::path::Path) {
    use viral_store::Store;
    let store = viral_store::sqlite::SqliteStore::open(db).unwrap();
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let half_hour = 1_800_000i64;
    let counts: Vec<viral_core::WindowCount> = (0..48)
        .map(|i| viral_core::WindowCount {
            topic: "ocean-spray".into(),
            window_start: viral_core::time::from_millis(start + i * half_hour),
            window_end: viral_core::time::from_millis(start + (i + 1) * half_hour),
            count: if i == 40 { 5000 } else { 100 },
            samples: vec![],
        })
        .collect();
    store
        .put_counts(Duration::from_secs(1800), &counts)
        .await
        .unwrap();
    let alert: viral_core::Alert = serde_json::from_value(json!({
        "id": "ocean-spray:threshold:2026-01-01T20:00:00Z", "topic": "ocean-spray",
        "detector": "threshold", "status": "firing",
        "window_start": "2026-01-01T20:00:00Z", "window_end": "2026-01-01T20:30:00Z",
        "count": 5000, "score": 5.0, "started_at": "2026-01-01T20:00:00Z",
        "samples": [
            {"text": "script link", "url": SCRIPT},
            {"text": "spaced script link", "url": format!("  {SCRIPT}")},
            {"text": "data link", "url": "data:text/html,<script>parent.document.body.dataset.pwned='yes'</script>"},
            {"text": "web link", "url": "https://example.com/ok"}
        ]
    }))
    .unwrap();
    store.put_alert(&alert).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sample_link_runs_nothing_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let posts = dir.path().join("posts.jsonl");
    std::fs::write(&posts, "").unwrap();
    store_hostile_incident(&dir.path().join("viral.db")).await;
    let (_viral, base) = standalone(dir.path(), hostile_config(&posts)).await;

    // The headers: a strict policy, no sniffing, no framing.
    let page = reqwest::get(format!("{base}/topics/ocean-spray"))
        .await
        .unwrap();
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");

    let browser = Browser::start().await;
    // Every policy violation is recorded, from before the page's own scripts run; web
    // links are kept from leaving the page (script links are left alone).
    browser
        .before_every_page(
            r#"window.violations = [];
               document.addEventListener('securitypolicyviolation',
                 (e) => window.violations.push(e.effectiveDirective + ' ' + e.blockedURI));
               document.addEventListener('click', (e) => {
                 const a = e.target.closest && e.target.closest('a');
                 if (a && /^https?:$/.test(a.protocol)) e.preventDefault();
               });"#,
        )
        .await;
    browser.goto(&format!("{base}/topics/ocean-spray")).await;
    browser
        .until(
            "the incident's four sample posts and the chart",
            r#"return document.querySelectorAll('#incidents .samples li').length === 4
                 && !!document.querySelector('#chart svg.chart .fire')"#,
        )
        .await;
    // A threshold has no baseline: no expected line or band in the legend, and the
    // incident does not say "expected —".
    let key = browser
        .js(r#"return document.querySelector('.legend').textContent"#)
        .await;
    assert_eq!(key, json!("countincident"));
    let incident = browser
        .js(r#"return document.querySelector('#incidents > li strong').parentNode.textContent"#)
        .await;
    assert!(
        !incident.as_str().unwrap_or_default().contains("expected"),
        "{incident}"
    );
    let links = browser
        .js(r#"return [...document.querySelectorAll('#incidents .samples a')].map(a => a.href)"#)
        .await;
    assert_eq!(
        links,
        json!(["https://example.com/ok"]),
        "only the web address is a link"
    );
    let texts = browser
        .js(r#"return [...document.querySelectorAll('#incidents .samples li')].map(li => li.textContent)"#)
        .await;
    assert_eq!(
        texts,
        json!(["script link", "spaced script link", "data link", "web link"]),
        "the others are shown as text"
    );
    let own = browser.js("return window.violations").await;
    assert_eq!(
        own,
        json!([]),
        "the dashboard itself breaks none of its policy"
    );

    // Clicking every sample link runs nothing.
    assert_eq!(browser.click_all("#incidents .samples a").await, 1);
    // And a script link that got onto the page anyway is stopped by the policy: clicked,
    // the browser reports the violation (the event the test waits for) and runs nothing.
    browser
        .js(&format!(
            r#"const a = document.createElement('a');
               a.id = 'probe'; a.href = "{SCRIPT}"; a.textContent = 'probe';
               document.querySelector('#incidents').append(a); return 1"#
        ))
        .await;
    assert_eq!(browser.click_all("#probe").await, 1);
    let blocked = browser
        .until(
            "the policy to block the script link",
            "return window.violations.find((v) => v.startsWith('script-src'))",
        )
        .await;
    assert!(blocked.as_str().unwrap().contains("inline"), "{blocked}");
    let pwned = browser
        .js("return document.body.dataset.pwned ?? null")
        .await;
    assert_eq!(pwned, Value::Null, "no link ran its script");
    browser.screenshot("hostile-links.png").await;

    // The overview: the stored incident is going viral; the topic nothing was ever
    // counted for says so instead of "normal".
    browser.goto(&format!("{base}/")).await;
    let states = browser
        .until(
            "both topics' states on the overview",
            r#"const s = (t) => document.querySelector(`tr[data-topic="${t}"] .badge`);
               return s('ocean-spray') && s('cranberry')
                 && [s('ocean-spray').textContent, s('cranberry').textContent]"#,
        )
        .await;
    assert_eq!(states, json!(["going viral (threshold)", "no data yet"]));
}
