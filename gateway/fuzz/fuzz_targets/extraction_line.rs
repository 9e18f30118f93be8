//! Any bytes as an Annuaire Santé extraction (zip or text): reading it must
//! not panic, and every entry read must have a normalised mailbox.
#![no_main]

use libfuzzer_sys::fuzz_target;

use facteur::directory::extraction::{Record, read_source};

fuzz_target!(|data: &[u8]| {
    let _ = read_source(std::io::Cursor::new(data), |entries| {
        for record in entries.by_ref() {
            let Ok(record) = record else { break };
            if let Record::Entry { entry, .. } = record {
                assert!(!entry.mailbox.is_empty());
                assert_eq!(entry.mailbox, entry.mailbox.to_lowercase());
                let _ = entry.display_name();
            }
        }
    });
});
