//! `node`, `node:numa`, `node::gpu,gpu`: never a panic, and what parses prints back the same.
#![no_main]

use hakuriver_model::Target;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = text.parse::<Target>() {
        let again: Target = target.to_string().parse().expect("a printed target parses");
        assert_eq!(again, target);
    }
});
