use super::*;
use std::sync::Arc;

use rustls::sign::CertifiedKey;

/// A software credential with a chosen expiry and availability.
#[derive(Debug)]
struct FakeCredential {
    not_after: Option<i64>,
    available: bool,
}

impl Credential for FakeCredential {
    fn identity(&self) -> String {
        "test".into()
    }
    fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        None
    }
    fn not_after(&self) -> Option<i64> {
        self.not_after
    }
    fn availability(&self) -> Result<(), String> {
        if self.available {
            Ok(())
        } else {
            Err("unavailable".into())
        }
    }
}

fn software(not_after: Option<i64>, available: bool) -> FakeCredential {
    FakeCredential {
        not_after,
        available,
    }
}

fn card(state: CardState) -> CardStatus {
    let mut status = CardStatus::initial();
    status.state = state;
    status
}

#[test]
fn every_card_state_maps_to_what_the_practice_can_do() {
    let any = software(None, true);
    let table = [
        (CardState::PcscUnavailable, CredentialFact::CardNeeded),
        (CardState::NoReader, CredentialFact::CardNeeded),
        (CardState::NoCard, CredentialFact::CardNeeded),
        (CardState::Locked, CredentialFact::CardNeeded),
        (CardState::NotCps, CredentialFact::Unusable),
        (CardState::CardError, CredentialFact::Unusable),
        (CardState::Blocked, CredentialFact::Unusable),
        (CardState::Unlocked, CredentialFact::Ready),
    ];
    for (state, expected) in table {
        assert_eq!(
            credential_fact(Some(&card(state)), &any),
            expected,
            "{state:?}"
        );
    }
}

#[test]
fn another_holders_card_or_an_expired_card_is_unusable() {
    let any = software(None, true);
    let mut other = card(CardState::Unlocked);
    other.identity = IdentityCheck::Different;
    assert_eq!(
        credential_fact(Some(&other), &any),
        CredentialFact::Unusable
    );
    let mut expired = card(CardState::Unlocked);
    expired.expires_in_days = Some(-1);
    assert_eq!(
        credential_fact(Some(&expired), &any),
        CredentialFact::Unusable
    );
    let mut soon = card(CardState::Unlocked);
    soon.expires_in_days = Some(3);
    assert_eq!(credential_fact(Some(&soon), &any), CredentialFact::Ready);
}

#[test]
fn a_software_certificate_is_ready_until_it_expires() {
    let now = crate::queue::now_unix();
    assert_eq!(
        credential_fact(None, &software(Some(now + 86400), true)),
        CredentialFact::Ready
    );
    assert_eq!(
        credential_fact(None, &software(Some(now - 1), true)),
        CredentialFact::Unusable
    );
    assert_eq!(
        credential_fact(None, &software(None, false)),
        CredentialFact::Unusable
    );
}

#[test]
fn the_earliest_failure_counts() {
    let early = Instant::now();
    let late = early + Duration::from_secs(5);
    assert_eq!(unreachable_since(None, None), None);
    assert_eq!(unreachable_since(Some(late), None), Some(late));
    assert_eq!(unreachable_since(None, Some(early)), Some(early));
    assert_eq!(unreachable_since(Some(late), Some(early)), Some(early));
}

#[test]
fn no_description_means_no_board_and_no_watchdog() {
    let started = start(&BoardConfig::default()).unwrap();
    assert!(started.link.is_none());
    assert!(started.watchdog.is_none());
}

#[test]
fn the_simulated_board_shows_the_facts_it_is_given() {
    let config = BoardConfig {
        description: Some(SIMULATED.into()),
        ..BoardConfig::default()
    };
    let started = start(&config).unwrap();
    let link = started.link.unwrap();
    assert!(link.is_simulated());
    link.set_facts(Facts {
        phase: Phase::Running,
        credential: CredentialFact::CardNeeded,
        operator_unreachable_since_ms: None,
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while link.snapshot().mode != board::Mode::CardNeeded {
        assert!(Instant::now() < deadline, "{:?}", link.snapshot().mode);
        std::thread::sleep(Duration::from_millis(10));
    }
    link.stop();
    assert_eq!(link.snapshot().color, "#000000");
}

#[test]
fn a_description_with_a_file_as_watchdog_arms_it() {
    let dir = tempfile::tempdir().unwrap();
    let dog = dir.path().join("watchdog");
    std::fs::write(&dog, b"").unwrap();
    let description = dir.path().join("board.toml");
    std::fs::write(
        &description,
        format!(
            "name = \"test\"\n[watchdog]\ndevice = \"{}\"\n",
            dog.display()
        ),
    )
    .unwrap();
    let config = BoardConfig {
        description: Some(description.display().to_string()),
        ..BoardConfig::default()
    };
    let mut started = start(&config).unwrap();
    let link = started.link.take().unwrap();
    assert_eq!(link.name, "test");
    assert!(!link.is_simulated());
    assert!(!link.press(Duration::from_millis(10)));
    started.watchdog.as_mut().unwrap().feed().unwrap();
    assert_eq!(std::fs::read(&dog).unwrap(), b"k");
}

#[test]
fn an_unreadable_description_is_an_error() {
    let config = BoardConfig {
        description: Some("/nonexistent/board.toml".into()),
        ..BoardConfig::default()
    };
    let err = start(&config).err().unwrap();
    assert!(format!("{err:#}").contains("board.description"), "{err:#}");
}
