//! Shared by the paper tests: sample documents made with lopdf, the letter
//! they get, and the poppler tools when installed.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use facteur::paper::{CoverLetter, Letterhead, PostalAddress};
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, dictionary};

/// A PDF of `pages` pages reading "Document page N". `rotate` and the
/// Letter-size media box are set on the page tree node, so the pages only
/// inherit them (what the merge must preserve).
pub fn sample_pdf(pages: usize, rotate: Option<i64>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Td", vec![72.into(), 600.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!("Document page {n}"))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let stream = lopdf::Stream::new(dictionary! {}, content.encode().unwrap());
        let content_id = doc.add_object(stream);
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(Object::Reference(page));
    }
    let mut tree = dictionary! {
        "Type" => "Pages",
        "Kids" => kids,
        "Count" => pages as i64,
        "Resources" => resources,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    };
    if let Some(r) = rotate {
        tree.set("Rotate", r);
    }
    doc.objects.insert(pages_id, Object::Dictionary(tree));
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

pub fn letterhead() -> Letterhead {
    Letterhead {
        practice_name: "Cabinet médical des Halles".into(),
        practitioner: "Dr Jeanne DUPONT".into(),
        specialty: Some("Hépato-gastro-entérologue".into()),
        address_lines: vec!["3 place de l’Église".into()],
        postcode: "79000".into(),
        town: "Niort".into(),
        phone: Some("05 49 00 00 00".into()),
        email: "cabinet.dupont@cabinet.mssante.fr".into(),
        rpps: Some("10001234567".into()),
    }
}

pub fn recipient() -> PostalAddress {
    PostalAddress {
        name_line: "Dr Benoît LEFÈVRE".into(),
        lines: vec!["Maison de santé".into(), "12 rue des Œillets".into()],
        postcode: "17000".into(),
        town: "La Rochelle".into(),
        country: None,
    }
}

pub fn letter<'a>(head: &'a Letterhead, to: &'a PostalAddress) -> CoverLetter<'a> {
    CoverLetter {
        letterhead: head,
        recipient: to,
        title: "Compte rendu d’échographie",
        patient: Some("DUPONT Marie, née le 12/03/1961"),
        body: Some(
            "Veuillez trouver ci-joint le compte rendu de l’échographie de votre patiente, \
             réalisée pour un bilan « cœur et foie » ; coût restant : 0 €.",
        ),
        date: time::macros::date!(2026 - 11 - 23),
    }
}

/// Whether `tool` can be run; prints why a test is skipped when not.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("-v").output().is_ok();
    if !found {
        eprintln!("SKIPPED: `{tool}` is not installed (apt-get install poppler-utils)");
    }
    found
}

pub fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
