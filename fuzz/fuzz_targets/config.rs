//! Configuration files: any text is a configuration or a clear error, never a panic.
#![no_main]

use hakuriver_config::{parse_str, Env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((config, _warnings)) = parse_str(text, &Env::default()) {
        // What loads is usable: the derived addresses never panic.
        let _ = config.host_url();
        let _ = config.runner_url();
        let _ = config.container_dir();
    }
});
