//! Any bytes as an IHE_XDM.ZIP: reading it must not panic nor exceed the
//! limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|zip: &[u8]| {
    let limits = facteur::inbound::export::ExportLimits {
        max_part_bytes: 1 << 20,
        max_xdm_total_bytes: 4 << 20,
        max_xdm_entries: 64,
    };
    if let Ok(archive) = facteur::xdm::read_xdm(zip, &limits) {
        let total: usize = archive.entries.iter().map(|e| e.bytes.len()).sum();
        assert!(total as u64 <= limits.max_xdm_total_bytes);
        assert!(archive.entries.len() <= limits.max_xdm_entries);
    }
    let _ = facteur::xdm::parse_metadata(zip);
});
