//! Any bytes as an incoming report: classification must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let _ = facteur::inbound::receipts::classify(raw);
});
