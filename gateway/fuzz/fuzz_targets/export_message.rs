//! Any bytes as a received message: the export must not panic, and must
//! write nothing outside the import folder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let Ok(root) = tempfile::tempdir() else {
        return;
    };
    let import = root.path().join("import");
    if std::fs::create_dir(&import).is_err() {
        return;
    }
    let limits = facteur::inbound::export::ExportLimits {
        max_part_bytes: 1 << 20,
        max_xdm_total_bytes: 4 << 20,
        max_xdm_entries: 64,
    };
    let _ = facteur::inbound::export::export_message(raw, &import, "fuzz-1", &limits);
    // Only the import folder may exist beside nothing else.
    let entries: Vec<_> = std::fs::read_dir(root.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(entries, vec![std::ffi::OsString::from("import")]);
});
