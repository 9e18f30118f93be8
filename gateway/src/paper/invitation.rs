//! The letter inviting a correspondent still reached on paper to join
//! MSSanté: why (the practice sends them letters it would rather send
//! securely), what it changes for them, how to get an address. One A4
//! page with the practice's letterhead and, when known, the
//! correspondent's address in the envelope window, drawn like the cover
//! letter ([`super::letter`]).

use super::PaperError;
use super::letter::{
    self, ADDRESS_LEFT_MM, ADDRESS_WIDTH_MM, BODY_SIZE, DATE_TOP_MM, FOOTER_GAP_MM, FOOTER_SIZE,
    FOOTER_TOP_MM, Letterhead, MARGIN_LEFT_MM, Page, PostalAddress, SMALL_SIZE, SUBJECT_TOP_MM,
    TEXT_WIDTH_MM, french_date, leading_mm,
};
use super::winansi::{self, Face};

pub const INVITATION_SUBJECT: &str =
    "Objet : invitation à rejoindre la messagerie sécurisée de santé MSSanté";

/// What the invitation says.
#[derive(Debug, Clone)]
pub struct Invitation<'a> {
    pub letterhead: &'a Letterhead,
    /// "Dr Paul MARTIN", as on the letters sent.
    pub correspondent: &'a str,
    /// Put in the envelope window when given and valid; otherwise only the
    /// name is printed there and the envelope is addressed by hand.
    pub address: Option<&'a PostalAddress>,
    /// Letters sent on paper to them in the period the practice looked at.
    pub letters: u64,
    pub date: time::Date,
}

/// The invitation as a one-page PDF.
pub fn invitation_pdf(invitation: &Invitation<'_>) -> Result<Vec<u8>, PaperError> {
    let mut page = Page { ops: Vec::new() };
    letter::draw_letterhead(&mut page, invitation.letterhead);
    let window = invitation
        .address
        .and_then(|a| a.window_lines().ok())
        .unwrap_or_else(|| vec![winansi::clean_line(invitation.correspondent)]);
    if window.iter().all(|l| l.is_empty()) {
        return Err(PaperError::Address("the correspondent has no name".into()));
    }
    letter::draw_address(&mut page, &window)?;

    let town = winansi::clean_line(&invitation.letterhead.town);
    page.line(
        ADDRESS_LEFT_MM,
        DATE_TOP_MM,
        Face::Regular,
        BODY_SIZE,
        &winansi::encode(&format!("{town}, {}", french_date(invitation.date))),
    );
    let mut top = page.paragraph(
        MARGIN_LEFT_MM,
        SUBJECT_TOP_MM,
        TEXT_WIDTH_MM,
        Face::Bold,
        BODY_SIZE,
        INVITATION_SUBJECT,
    );
    top += leading_mm(BODY_SIZE) * 1.5;
    for paragraph in paragraphs(invitation) {
        top = page.paragraph(
            MARGIN_LEFT_MM,
            top,
            TEXT_WIDTH_MM,
            Face::Regular,
            BODY_SIZE,
            &paragraph,
        );
        top += leading_mm(BODY_SIZE) * 0.8;
    }
    top += leading_mm(BODY_SIZE);
    top = page.paragraph(
        ADDRESS_LEFT_MM,
        top,
        ADDRESS_WIDTH_MM,
        Face::Bold,
        BODY_SIZE,
        &invitation.letterhead.practitioner,
    );
    if let Some(specialty) = &invitation.letterhead.specialty {
        top = page.paragraph(
            ADDRESS_LEFT_MM,
            top,
            ADDRESS_WIDTH_MM,
            Face::Regular,
            SMALL_SIZE,
            specialty,
        );
    }
    if top > FOOTER_TOP_MM - FOOTER_GAP_MM {
        return Err(PaperError::Letter(
            "the invitation's text does not fit on one page".into(),
        ));
    }
    page.paragraph(
        MARGIN_LEFT_MM,
        FOOTER_TOP_MM,
        TEXT_WIDTH_MM,
        Face::Regular,
        FOOTER_SIZE,
        "Annuaire santé et liste des opérateurs MSSanté : https://mssante.fr",
    );
    let (mut doc, _) = letter::page_document(page)?;
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| PaperError::Pdf(format!("cannot write the PDF: {e}")))?;
    Ok(out)
}

/// The body, paragraph by paragraph: greeting, why, what it changes, how,
/// the practice's address, closing.
fn paragraphs(invitation: &Invitation<'_>) -> Vec<String> {
    let letters = match invitation.letters {
        0 | 1 => "un courrier".to_string(),
        n => format!("{n} courriers"),
    };
    let email = winansi::clean_line(&invitation.letterhead.email);
    vec![
        "Cher confrère,".into(),
        format!(
            "Notre cabinet vous a adressé récemment {letters} sur papier (comptes rendus, \
             résultats, lettres de liaison concernant des patients que nous suivons ensemble), \
             faute d’avoir trouvé votre adresse dans l’annuaire de la messagerie sécurisée de \
             santé MSSanté. Nos autres correspondants reçoivent ces documents par MSSanté, et \
             nous aimerions vous les adresser de la même façon."
        ),
        "Ce que cela change pour vous : les documents arrivent le jour même, dans votre \
         messagerie ou directement dans votre logiciel métier, au lieu de plusieurs jours par \
         la poste ; ils sont chiffrés et échangés uniquement entre professionnels de santé \
         identifiés, comme l’exigent le secret médical et le RGPD ; ils portent l’identité \
         du patient (INS) et s’intègrent au dossier sans ressaisie ni numérisation ; et plus \
         aucun courrier n’est égaré. Vous pouvez aussi nous répondre et nous adresser vos \
         patients de la même manière."
            .into(),
        "Comment faire : une adresse MSSanté s’obtient auprès de votre ordre professionnel \
         (l’Ordre des médecins, par exemple, en propose une gratuitement à ses inscrits), \
         auprès de l’un des opérateurs MSSanté référencés (votre éditeur de logiciel, votre \
         établissement ou votre groupement régional d’e-santé peuvent vous orienter), ou sur \
         https://mssante.fr. Munissez-vous de votre carte CPS ou de l’application e-CPS. Votre \
         adresse figurera ensuite dans l’annuaire santé, où nous la trouverons."
            .into(),
        format!(
            "Vous pouvez aussi nous la communiquer directement, ou nous écrire dès maintenant à \
             notre adresse MSSanté : {email}."
        ),
        "Je vous prie de croire, cher confrère, à l’expression de mes sentiments confraternels."
            .into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letterhead() -> Letterhead {
        Letterhead {
            practice_name: "Cabinet du Parc".into(),
            practitioner: "Dr Jeanne DUPONT".into(),
            specialty: Some("Médecine générale".into()),
            address_lines: vec!["3 avenue de Paris".into()],
            postcode: "79000".into(),
            town: "Niort".into(),
            phone: Some("05 49 00 00 00".into()),
            email: "cabinet.dupont@medecin.mssante.fr".into(),
            rpps: Some("10001234567".into()),
        }
    }

    /// The page's text as drawn (content stream decoded from WinAnsi).
    fn page_text(pdf: &[u8]) -> String {
        let doc = lopdf::Document::load_mem(pdf).unwrap();
        let pages = doc.get_pages();
        assert_eq!(pages.len(), 1, "one page");
        let page_id = *pages.values().next().unwrap();
        let content = doc.get_page_content(page_id);
        let ops = lopdf::content::Content::decode(&content)
            .unwrap()
            .operations;
        let mut text = String::new();
        for op in ops.iter().filter(|o| o.operator == "Tj") {
            if let Some(lopdf::Object::String(bytes, _)) = op.operands.first() {
                text.extend(bytes.iter().map(|&b| match b {
                    0x92 => '’',
                    0xab => '«',
                    0xbb => '»',
                    b => char::from(b),
                }));
                text.push(' ');
            }
        }
        text
    }

    #[test]
    fn paper_invitation_is_one_page_with_the_address_in_the_window() {
        let head = letterhead();
        let address = PostalAddress {
            name_line: "Dr Paul MARTIN".into(),
            lines: vec!["12 rue des Lilas".into()],
            postcode: "79000".into(),
            town: "Niort".into(),
            country: None,
        };
        let pdf = invitation_pdf(&Invitation {
            letterhead: &head,
            correspondent: "Dr Paul MARTIN",
            address: Some(&address),
            letters: 3,
            date: time::macros::date!(2026 - 11 - 23),
        })
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = page_text(&pdf);
        for expected in [
            "Cabinet du Parc",
            "12 rue des Lilas",
            "79000 NIORT",
            "Niort, le 23 novembre 2026",
            "3 courriers",
            "cabinet.dupont@medecin.mssante.fr",
            "Dr Jeanne DUPONT",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        // No patient data and no title in the metadata.
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let info = doc.trailer.get(b"Info").unwrap().as_reference().unwrap();
        let info = doc.get_dictionary(info).unwrap();
        assert!(info.get(b"Title").is_err());
    }

    #[test]
    fn paper_invitation_without_a_usable_address_prints_the_name() {
        let head = letterhead();
        let bad = PostalAddress {
            name_line: "Dr B".into(),
            lines: vec![],
            postcode: "7900".into(),
            town: "Niort".into(),
            country: None,
        };
        for address in [None, Some(&bad)] {
            let pdf = invitation_pdf(&Invitation {
                letterhead: &head,
                correspondent: "Dr Anne DURAND",
                address,
                letters: 1,
                date: time::macros::date!(2026 - 11 - 1),
            })
            .unwrap();
            let text = page_text(&pdf);
            assert!(text.contains("un courrier sur papier"), "{text}");
            assert!(!text.contains("7900 NIORT"), "{text}");
            assert!(text.contains("Dr Anne DURAND"), "{text}");
        }
        let nameless = invitation_pdf(&Invitation {
            letterhead: &head,
            correspondent: " ",
            address: None,
            letters: 1,
            date: time::macros::date!(2026 - 11 - 1),
        });
        assert!(matches!(nameless, Err(PaperError::Address(_))));
    }
}
