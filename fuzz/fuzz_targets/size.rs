//! Memory sizes (`4G`, `512M`, `1000`): never a panic, and a plain byte count reads as itself.
#![no_main]

use hakuriver_model::parse_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(bytes) = parse_bytes(text) {
        assert_eq!(parse_bytes(&bytes.to_string()), Ok(bytes));
    }
});
