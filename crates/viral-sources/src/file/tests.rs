//! Tests of the file source: valid posts arrive in file order, every kind of bad line is
//! skipped and counted without stopping the source, a recording is moved onto the
//! present and paced by the clock, pacing and shutdown behave.

use std::sync::Arc;
use std::time::Duration;

use std::io::Write;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use viral_core::time::{parse_rfc3339, Millis};
use viral_runtime::clock::{Clock, SystemClock};

use super::*;

/// Simulated time on tokio's clock (which a paused test advances exactly): `origin` when
/// created, `speed` times faster than tokio's time after.
struct TokioClock {
    origin: Millis,
    started: Instant,
    speed: f64,
}

impl TokioClock {
    fn at(origin: &str, speed: f64) -> SharedClock {
        Arc::new(Self {
            origin: to_millis(&parse_rfc3339(origin).unwrap()),
            started: Instant::now(),
            speed,
        })
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> Millis {
        self.origin + (self.started.elapsed().as_secs_f64() * 1000.0 * self.speed) as Millis
    }
}

fn post_line(id: &str, created_at: &str) -> String {
    format!(
        r#"{{"id":"{id}","source":"test","text":"ocean spray {id}","created_at":"{created_at}"}}"#
    )
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

/// A source with the recorded times.
fn source(f: &tempfile::NamedTempFile, speed: Option<f64>) -> FileSource {
    FileSource::new(
        FileConfig {
            path: f.path().to_path_buf(),
            time: FileTime::Recorded,
            speed,
        },
        Arc::new(SystemClock),
    )
}

/// A source that moves the recording onto `clock`'s present.
fn rebased(f: &tempfile::NamedTempFile, clock: SharedClock, speed: Option<f64>) -> FileSource {
    FileSource::new(
        FileConfig {
            path: f.path().to_path_buf(),
            time: FileTime::Rebase,
            speed,
        },
        clock,
    )
}

/// Run to completion and collect what was sent.
async fn run_all(source: FileSource) -> (Result<(), SourceError>, Vec<Post>) {
    let (tx, mut rx) = mpsc::channel(4);
    let task = tokio::spawn(Box::new(source).run(tx, CancellationToken::new()));
    let mut got = Vec::new();
    while let Some(p) = rx.recv().await {
        got.push(p);
    }
    (task.await.unwrap(), got)
}

#[tokio::test]
async fn good_lines_arrive_in_order_and_bad_lines_are_counted() {
    let mut bytes = Vec::new();
    for line in [
        post_line("1", "2020-09-25T18:00:00Z"),
        "not json".to_owned(),
        r#"{"id":"2","source":"s","text":"no created_at"}"#.to_owned(),
        String::new(),
        post_line("3", "2020-09-25T18:00:01.5Z"),
        post_line("4", "2020-09-25T18:00:02Z") + "\r",
    ] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"id\":\"\xff\xfe\"}\n");
    // The last line has no newline and must still be read.
    bytes.extend_from_slice(post_line("5", "2020-09-25T18:00:03Z").as_bytes());
    let f = temp_file(&bytes);
    let source = source(&f, None);
    let stats = source.stats();

    let (result, got) = run_all(source).await;
    result.unwrap();
    let ids: Vec<&str> = got.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["1", "3", "4", "5"]);
    assert_eq!(got[1].text, "ocean spray 3");
    assert_eq!((stats.lines(), stats.posts(), stats.invalid()), (8, 4, 4));
}

#[tokio::test]
async fn many_bad_lines_never_stop_the_source() {
    let mut text = String::new();
    for i in 0..25 {
        text.push_str(&format!("garbage {i}\n"));
    }
    text.push_str(&post_line("last", "2020-09-25T18:00:00Z"));
    text.push('\n');
    let f = temp_file(text.as_bytes());
    let source = source(&f, None);
    let stats = source.stats();
    let (result, got) = run_all(source).await;
    result.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "last");
    assert_eq!(stats.invalid(), 25);
}

#[tokio::test]
async fn an_over_long_line_is_skipped_without_losing_the_next() {
    let mut bytes = vec![b'x'; MAX_LINE_BYTES + 10];
    bytes.push(b'\n');
    bytes.extend_from_slice(post_line("after", "2020-09-25T18:00:00Z").as_bytes());
    let f = temp_file(&bytes);
    let source = source(&f, None);
    let stats = source.stats();
    let (result, got) = run_all(source).await;
    result.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "after");
    assert_eq!(stats.invalid(), 1);
}

#[tokio::test]
async fn a_missing_file_is_an_error_naming_it() {
    let source = FileSource::new(
        FileConfig {
            path: "/nonexistent/posts.jsonl".into(),
            time: FileTime::default(),
            speed: None,
        },
        Arc::new(SystemClock),
    );
    let (tx, _rx) = mpsc::channel(1);
    let err = Box::new(source)
        .run(tx, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/posts.jsonl"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_speed_is_a_configuration_error() {
    let f = temp_file(b"");
    for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let (tx, _rx) = mpsc::channel(1);
        let err = Box::new(source(&f, Some(speed)))
            .run(tx, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("speed"), "{err}");
    }
}

#[tokio::test]
async fn a_closed_sink_ends_the_source_quietly() {
    let f = temp_file(post_line("1", "2020-09-25T18:00:00Z").as_bytes());
    let source = source(&f, None);
    let stats = source.stats();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    Box::new(source)
        .run(tx, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(stats.posts(), 0);
}

// Tokio's paused clock only moves when every task waits on a timer, so the elapsed time
// below is exactly what the pacer asked for, not what this machine happened to take.
#[tokio::test(start_paused = true)]
async fn paced_posts_follow_created_at_divided_by_speed() {
    let text = [
        post_line("a", "2020-09-25T18:00:00Z"),
        post_line("b", "2020-09-25T18:01:00Z"),
        // Older than its predecessor: due at once, not after a negative gap.
        post_line("c", "2020-09-25T18:00:30Z"),
        post_line("d", "2020-09-25T18:02:00Z"),
    ]
    .join("\n");
    let f = temp_file(text.as_bytes());
    let (tx, mut rx) = mpsc::channel(1);
    let t0 = Instant::now();
    let task = tokio::spawn(Box::new(source(&f, Some(60.0))).run(tx, CancellationToken::new()));
    let mut arrivals = Vec::new();
    while let Some(p) = rx.recv().await {
        arrivals.push((p.id, t0.elapsed()));
    }
    task.await.unwrap().unwrap();
    let ids: Vec<&str> = arrivals.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    // One simulated minute per real second: b after 1 s, d after 2 s.
    assert!(arrivals[1].1 >= Duration::from_secs(1), "{arrivals:?}");
    assert!(arrivals[3].1 >= Duration::from_secs(2), "{arrivals:?}");
    assert!(arrivals[2].1 < Duration::from_secs(2), "{arrivals:?}");
}

#[tokio::test]
async fn shutdown_interrupts_a_paced_wait() {
    // A day between the posts at real-time speed: only shutdown can end this run.
    let text = [
        post_line("now", "2020-09-25T18:00:00Z"),
        post_line("tomorrow", "2020-09-26T18:00:00Z"),
    ]
    .join("\n");
    let f = temp_file(text.as_bytes());
    let source = source(&f, Some(1.0));
    let stats = source.stats();
    let (tx, mut rx) = mpsc::channel(4);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Box::new(source).run(tx, stop.clone()));
    assert_eq!(rx.recv().await.unwrap().id, "now");
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(rx.recv().await.is_none());
    assert_eq!(stats.posts(), 1);
}

#[test]
fn config_reads_path_and_optional_speed_and_rejects_unknown_keys() {
    let c: FileConfig = serde_json::from_str(r#"{"path":"posts.jsonl"}"#).unwrap();
    assert_eq!((c.speed, c.time), (None, FileTime::Rebase));
    c.validate().unwrap();
    let c: FileConfig =
        serde_json::from_str(r#"{"path":"p","speed":60,"time":"recorded"}"#).unwrap();
    assert_eq!((c.speed, c.time), (Some(60.0), FileTime::Recorded));
    assert!(serde_json::from_str::<FileConfig>(r#"{"path":"p","sped":1}"#).is_err());
    assert!(serde_json::from_str::<FileConfig>(r#"{"path":"p","time":"now"}"#).is_err());
    let empty = FileConfig {
        path: "".into(),
        time: FileTime::default(),
        speed: None,
    };
    assert_eq!(empty.validate().unwrap_err().key, "path");
}

#[tokio::test]
async fn a_recorded_url_that_is_not_a_web_address_is_dropped_and_the_post_kept() {
    let lines = [
        r#"{"id":"1","source":"s","text":"ocean spray","created_at":"2020-09-25T18:00:00Z","url":"javascript:alert(document.domain)"}"#,
        r#"{"id":"2","source":"s","text":"ocean spray","created_at":"2020-09-25T18:00:01Z","url":"https://example.com/p/2"}"#,
    ];
    let f = temp_file(lines.join("\n").as_bytes());
    let (result, posts) = run_all(source(&f, None)).await;
    result.unwrap();
    let urls: Vec<_> = posts.iter().map(|p| p.url.as_deref()).collect();
    assert_eq!(urls, [None, Some("https://example.com/p/2")]);
}

#[tokio::test(start_paused = true)]
async fn a_recording_is_moved_onto_the_present_by_whole_days_and_sent_as_the_clock_reaches_it() {
    let text = [
        post_line("a", "2020-09-25T11:00:00Z"),
        // Seen two seconds after it was written: both times move, the gap stays.
        r#"{"id":"b","source":"test","text":"ocean spray b","created_at":"2020-09-25T11:59:00Z","observed_at":"2020-09-25T11:59:02Z"}"#.to_owned(),
        post_line("c", "2020-09-25T12:30:00Z"),
        post_line("d", "2020-09-26T12:00:00Z"),
    ]
    .join("\n");
    let f = temp_file(text.as_bytes());
    let clock = TokioClock::at("2026-01-10T12:00:00Z", 1.0);
    let (tx, mut rx) = mpsc::channel(1);
    let t0 = Instant::now();
    let task = tokio::spawn(Box::new(rebased(&f, clock, None)).run(tx, CancellationToken::new()));
    let mut got = Vec::new();
    while let Some(p) = rx.recv().await {
        got.push((p, t0.elapsed()));
    }
    task.await.unwrap().unwrap();
    let at = |s: &str| parse_rfc3339(s).unwrap();
    let times: Vec<_> = got
        .iter()
        .map(|(p, _)| (p.id.as_str(), p.created_at, p.observed_at))
        .collect();
    // 1933 days later: the first post is in the day before the clock's "now".
    assert_eq!(
        times,
        [
            ("a", at("2026-01-10T11:00:00Z"), None),
            (
                "b",
                at("2026-01-10T11:59:00Z"),
                Some(at("2026-01-10T11:59:02Z"))
            ),
            ("c", at("2026-01-10T12:30:00Z"), None),
            ("d", at("2026-01-11T12:00:00Z"), None),
        ]
    );
    // What is already past goes at once; the rest when the clock gets there.
    let waited: Vec<Duration> = got.iter().map(|(_, d)| *d).collect();
    assert!(waited[1] < Duration::from_secs(1), "{waited:?}");
    assert!(waited[2] >= Duration::from_secs(30 * 60), "{waited:?}");
    assert!(waited[2] < Duration::from_secs(31 * 60), "{waited:?}");
    assert!(waited[3] >= Duration::from_secs(24 * 3600), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_faster_clock_paces_a_moved_recording_faster() {
    let text = [
        post_line("a", "2020-09-25T11:00:00Z"),
        post_line("b", "2020-09-25T13:00:00Z"),
    ]
    .join("\n");
    let f = temp_file(text.as_bytes());
    // The pipeline's clock runs 60x (as `build::clock` makes it for this config).
    let clock = TokioClock::at("2026-01-10T12:00:00Z", 60.0);
    let (tx, mut rx) = mpsc::channel(1);
    let t0 = Instant::now();
    let task =
        tokio::spawn(Box::new(rebased(&f, clock, Some(60.0))).run(tx, CancellationToken::new()));
    let mut waited = Vec::new();
    while let Some(p) = rx.recv().await {
        waited.push((p.id, t0.elapsed()));
    }
    task.await.unwrap().unwrap();
    // b is due an hour of clock time after the start: a minute of real time.
    assert_eq!(waited[1].0, "b");
    assert!(waited[1].1 >= Duration::from_secs(60), "{waited:?}");
    assert!(waited[1].1 < Duration::from_secs(62), "{waited:?}");
}

#[tokio::test]
async fn a_post_more_than_a_day_ahead_of_the_clock_is_invalid_and_never_waited_for() {
    let text = [
        post_line("a", "2026-01-10T11:00:00Z"),
        post_line("far", "9999-12-31T23:59:59Z"),
        // An hour past the limit of a day ahead.
        post_line("tomorrow", "2026-01-11T13:00:00Z"),
        post_line("b", "2026-01-10T11:30:00Z"),
    ]
    .join("\n");
    let f = temp_file(text.as_bytes());
    for time in [FileTime::Rebase, FileTime::Recorded] {
        let clock = TokioClock::at("2026-01-10T12:00:00Z", 1.0);
        let source = FileSource::new(
            FileConfig {
                path: f.path().to_path_buf(),
                time,
                speed: None,
            },
            clock,
        );
        let stats = source.stats();
        let (result, got) = run_all(source).await;
        result.unwrap();
        let ids: Vec<&str> = got.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "{time:?}");
        assert_eq!(stats.invalid(), 2, "{time:?}");
    }
}
