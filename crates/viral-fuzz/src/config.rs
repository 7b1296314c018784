//! The configuration file: whatever `viral_config::load_str` accepts, start-up must be
//! able to build (its validation promises that a bad value fails there, naming the key,
//! and never later).

use viral_core::Judge;

pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = viral_config::load_str(text) else {
        return;
    };
    config.window_spec().expect("a validated window builds");
    config.matcher().expect("validated topics build a matcher");
    Judge::new(config.detectors.clone()).expect("validated detectors build");
    config.http.limits().check().expect("validated http limits");
}
