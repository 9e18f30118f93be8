//! The print-ready PDF as poppler (pdftotext, pdftoppm) reads and renders
//! it: French text intact, the address in the envelope window, every page
//! of the document after the letter, bad documents refused.

mod paper_support;

use facteur::paper::letter::WINDOW_SAFE_MM;
use facteur::paper::{PaperError, build_paper_pdf, inspect_pdf};
use lopdf::dictionary;
use paper_support::*;

fn mm(points: f32) -> f32 {
    points * 25.4 / 72.0
}

/// Words of page 1 with their box in millimetres from the top-left corner,
/// read from `pdftotext -bbox`.
fn words(pdf: &std::path::Path) -> Vec<(String, f32, f32, f32, f32)> {
    let html = run(
        "pdftotext",
        &["-bbox", "-f", "1", "-l", "1", path(pdf), "-"],
    );
    let attr = |tag: &str, name: &str| -> f32 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse().unwrap()
    };
    html.split("<word ")
        .skip(1)
        .map(|w| {
            let (tag, rest) = w.split_once('>').unwrap();
            let text = rest.split("</word>").next().unwrap();
            let text = text
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">");
            (
                text,
                mm(attr(tag, "xMin")),
                mm(attr(tag, "yMin")),
                mm(attr(tag, "xMax")),
                mm(attr(tag, "yMax")),
            )
        })
        .collect()
}

#[test]
fn paper_letter_reads_right_and_the_address_sits_in_the_window() {
    if !have("pdftotext") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (head, to) = (letterhead(), recipient());
    let pdf = build_paper_pdf(&letter(&head, &to), &sample_pdf(3, None)).unwrap();
    let file = dir.path().join("out.pdf");
    std::fs::write(&file, &pdf).unwrap();

    let text = run(
        "pdftotext",
        &["-layout", "-f", "1", "-l", "1", path(&file), "-"],
    );
    for expected in [
        "Cabinet médical des Halles",
        "Dr Jeanne DUPONT",
        "3 place de l’Église",
        "MSSanté : cabinet.dupont@cabinet.mssante.fr",
        "RPPS : 10001234567",
        "Niort, le 23 novembre 2026",
        "Objet : Compte rendu d’échographie – DUPONT Marie, née le 12/03/1961",
        "Cher confrère,",
        "« cœur et foie »",
        "0 €",
        "https://mssante.fr",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The recipient's lines, in order, the last in postal capitals.
    let order: Vec<usize> = [
        "Dr Benoît LEFÈVRE",
        "Maison de santé",
        "12 rue des Œillets",
        "17000 LA ROCHELLE",
    ]
    .iter()
    .map(|line| {
        text.find(line)
            .unwrap_or_else(|| panic!("{line} in:\n{text}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    // Geometry: every word of the address inside the area the window
    // shows whatever the sheet's position, and nothing else in it.
    let (left, top, right, bottom) = WINDOW_SAFE_MM;
    let address_words = [
        "Dr", "Benoît", "LEFÈVRE", "Maison", "de", "santé", "12", "rue", "des", "Œillets", "17000",
        "LA", "ROCHELLE",
    ];
    let page = words(&file);
    let mut seen = 0;
    for (word, x0, y0, x1, y1) in &page {
        let inside = *x1 > left && *x0 < right && *y1 > top && *y0 < bottom;
        let in_address_rows = *x0 >= 100.0 && *y0 >= 45.0 && *y1 <= 90.0;
        if in_address_rows {
            assert!(
                address_words.contains(&word.as_str()),
                "{word:?} at {x0:.1},{y0:.1} mm would show in the window"
            );
            assert!(
                *x0 >= left && *x1 <= right && *y0 >= top && *y1 <= bottom,
                "{word:?} at x {x0:.1}–{x1:.1}, y {y0:.1}–{y1:.1} mm is not all inside the window"
            );
            seen += 1;
        } else {
            assert!(
                !inside,
                "{word:?} at {x0:.1},{y0:.1} mm overlaps the window"
            );
        }
    }
    assert_eq!(seen, address_words.len(), "{page:?}");
}

#[test]
fn paper_pdf_has_every_page_and_renders() {
    if !have("pdftoppm") || !have("pdftotext") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (head, to) = (letterhead(), recipient());
    let pdf = build_paper_pdf(&letter(&head, &to), &sample_pdf(3, Some(90))).unwrap();
    assert_eq!(inspect_pdf(&pdf).unwrap().pages, 4);
    let file = dir.path().join("out.pdf");
    std::fs::write(&file, &pdf).unwrap();

    for n in 1..=3 {
        let page = (n + 1).to_string();
        let text = run("pdftotext", &["-f", &page, "-l", &page, path(&file), "-"]);
        assert!(
            text.contains(&format!("Document page {n}")),
            "page {page}: {text}"
        );
    }
    // Inherited size and rotation kept on the document's pages; the letter
    // stays A4 upright.
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let pages: Vec<_> = doc.get_pages().into_values().collect();
    let first = doc.get_dictionary(pages[0]).unwrap();
    assert!(first.get(b"Rotate").is_err());
    for id in &pages[1..] {
        let page = doc.get_dictionary(*id).unwrap();
        assert_eq!(page.get(b"Rotate").unwrap().as_i64().unwrap(), 90);
        let media: Vec<f32> = page
            .get(b"MediaBox")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_float().unwrap())
            .collect();
        assert_eq!(media, [0.0, 0.0, 612.0, 792.0]);
    }
    let info = run("pdfinfo", &["-f", "1", "-l", "4", path(&file)]);
    let info = info.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        info.contains("Page 1 size: 595.276 x 841.89 pts (A4)"),
        "{info}"
    );
    assert!(info.contains("Page 1 rot: 0"), "{info}");
    for n in 2..=4 {
        assert!(
            info.contains(&format!(
                "Page {n} size: 612 x 792 pts (letter) Page {n} rot: 90"
            )),
            "{info}"
        );
    }

    let prefix = dir.path().join("page");
    run(
        "pdftoppm",
        &["-r", "50", "-png", path(&file), path(&prefix)],
    );
    let mut pngs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 4, "{pngs:?}");
    for png in pngs {
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 500,
            "{png:?}"
        );
    }
}

/// An encrypted PDF made by hand: a standard security handler dictionary
/// in the trailer (RC4 40 bits, a user password we do not know).
fn encrypted_pdf() -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(&sample_pdf(1, None)).unwrap();
    let encrypt = doc.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => lopdf::Object::String(vec![0x11; 32], lopdf::StringFormat::Hexadecimal),
        "U" => lopdf::Object::String(vec![0x22; 32], lopdf::StringFormat::Hexadecimal),
        "P" => -44,
    });
    doc.trailer.set("Encrypt", encrypt);
    doc.trailer.set(
        "ID",
        vec![
            lopdf::Object::String(vec![1; 16], lopdf::StringFormat::Hexadecimal),
            lopdf::Object::String(vec![1; 16], lopdf::StringFormat::Hexadecimal),
        ],
    );
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[test]
fn paper_refuses_encrypted_corrupt_and_empty_documents() {
    let (head, to) = (letterhead(), recipient());
    let letter = letter(&head, &to);

    let encrypted = encrypted_pdf();
    assert!(inspect_pdf(&encrypted).unwrap().encrypted);
    let err = build_paper_pdf(&letter, &encrypted).unwrap_err();
    assert!(matches!(err, PaperError::Encrypted), "{err}");
    assert!(err.to_string().contains("encrypted"), "{err}");

    // A real encryption tool's output too, when qpdf is there (with the
    // empty user password lopdf opens the file: still refused).
    if std::process::Command::new("qpdf")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.pdf");
        std::fs::write(&plain, sample_pdf(2, None)).unwrap();
        for user in ["secret", ""] {
            let out = dir.path().join(format!("enc-{}.pdf", user.len()));
            run(
                "qpdf",
                &[
                    "--encrypt",
                    user,
                    "owner",
                    "256",
                    "--",
                    path(&plain),
                    path(&out),
                ],
            );
            let bytes = std::fs::read(&out).unwrap();
            let err = build_paper_pdf(&letter, &bytes).unwrap_err();
            assert!(matches!(err, PaperError::Encrypted), "user {user:?}: {err}");
        }
    } else {
        eprintln!("SKIPPED (part): qpdf is not installed");
    }

    for garbage in [
        &b""[..],
        b"not a pdf at all",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF",
        b"%PDF-1.4\n\xff\xfe\x00garbage\x00\x01\x02",
    ] {
        let err = build_paper_pdf(&letter, garbage).unwrap_err();
        assert!(
            matches!(err, PaperError::Unreadable(_) | PaperError::NoPages),
            "{err}"
        );
        assert!(inspect_pdf(garbage).is_err() || inspect_pdf(garbage).unwrap().pages == 0);
    }
    let word = b"PK\x03\x04 a .docx is a zip";
    assert!(
        matches!(build_paper_pdf(&letter, word), Err(PaperError::Unreadable(m)) if m == "not a PDF file")
    );

    // A valid file without pages.
    let empty = sample_pdf(0, None);
    assert_eq!(inspect_pdf(&empty).unwrap().pages, 0);
    assert!(matches!(
        build_paper_pdf(&letter, &empty),
        Err(PaperError::NoPages)
    ));

    // Truncations of a good file never panic.
    let good = sample_pdf(2, None);
    for cut in (0..good.len()).step_by(37) {
        let _ = build_paper_pdf(&letter, &good[..cut]);
    }
}

#[test]
fn paper_letter_too_long_is_an_error_not_a_second_page() {
    let (head, to) = (letterhead(), recipient());
    let mut l = letter(&head, &to);
    let long = "Un paragraphe de compte rendu bien trop long pour une lettre d’accompagnement. "
        .repeat(80);
    l.body = Some(&long);
    let err = build_paper_pdf(&l, &sample_pdf(1, None)).unwrap_err();
    assert!(matches!(err, PaperError::Letter(_)), "{err}");
}
