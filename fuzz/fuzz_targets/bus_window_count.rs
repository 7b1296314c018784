#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| viral_fuzz::bus_window_count(data));
