//! Any bytes as a document's sidecar: parsing and routing checks must not
//! panic, and what they accept must build a checkable XDM package.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(sidecar) = facteur::outbox::sidecar::parse_sidecar(raw) {
        let _ = facteur::outbox::document::title_of(&sidecar, "fuzz.pdf");
        if let Some(patient) = &sidecar.patient {
            let _ = facteur::outbox::compose::conventional_subject("t", Some(patient));
        }
    }
});
