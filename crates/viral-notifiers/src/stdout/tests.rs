use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use viral_core::time::from_millis;
use viral_core::{AlertStatus, Sample};

use super::*;

/// A writer the test can read back, recording flushes so "flushed per line" is observable.
#[derive(Clone, Default)]
struct Recorder {
    bytes: Arc<Mutex<Vec<u8>>>,
    flushed_at: Arc<Mutex<Vec<usize>>>,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let len = self.bytes.lock().unwrap().len();
        self.flushed_at.lock().unwrap().push(len);
        Ok(())
    }
}

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn alert(status: AlertStatus) -> Alert {
    Alert {
        id: "t:threshold:1".into(),
        topic: "t".into(),
        detector: "threshold".into(),
        status,
        window_start: from_millis(0),
        window_end: from_millis(60_000),
        count: 3,
        expected: Some(1.0),
        band: None,
        score: 3.0,
        started_at: from_millis(0),
        samples: vec![Sample {
            text: "line\nbreak".into(),
            url: None,
        }],
    }
}

#[tokio::test]
async fn writes_one_flushed_compact_json_line_per_alert() {
    let rec = Recorder::default();
    let n = StdoutNotifier::to_writer(Box::new(rec.clone()));
    assert_eq!(n.name(), "stdout");
    n.notify(&alert(AlertStatus::Firing)).await.unwrap();
    n.notify(&alert(AlertStatus::Resolved)).await.unwrap();
    let text = String::from_utf8(rec.bytes.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    let first: Alert = serde_json::from_str(lines[0]).unwrap();
    let second: Alert = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(first, alert(AlertStatus::Firing));
    assert_eq!(second, alert(AlertStatus::Resolved));
    // Each line was flushed as soon as it was complete.
    let first_end = lines[0].len() + 1;
    assert_eq!(*rec.flushed_at.lock().unwrap(), [first_end, text.len()]);
}

#[tokio::test]
async fn a_failing_writer_is_an_error() {
    let n = StdoutNotifier::to_writer(Box::new(Broken));
    let err = n.notify(&alert(AlertStatus::Firing)).await.unwrap_err();
    assert!(matches!(err, NotifyError::Io(_)), "{err}");
}

#[test]
fn config_rejects_unknown_keys() {
    let ok: StdoutConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(ok, StdoutConfig::default());
    assert!(serde_json::from_str::<StdoutConfig>(r#"{"pretty":true}"#).is_err());
}
