use super::*;

const PHASES: [Phase; 5] = [
    Phase::Starting,
    Phase::SetupNeeded,
    Phase::Running,
    Phase::Updating,
    Phase::Resetting,
];
const CREDENTIALS: [CredentialFact; 4] = [
    CredentialFact::Ready,
    CredentialFact::CardNeeded,
    CredentialFact::Unusable,
    CredentialFact::ReconnectNeeded,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Overlay {
    None,
    Identify,
    ResetArmed,
    ResetAwaiting,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    phase: Phase,
    credential: CredentialFact,
    /// How long the operator has been unreachable, if it is.
    unreachable_ms: Option<u64>,
    overlay: Overlay,
}

const NOW: u64 = 100_000_000;

fn settings() -> FaceSettings {
    FaceSettings::default()
}

fn all_cases() -> Vec<Case> {
    let alarm = settings().operator_alarm_ms;
    let mut cases = Vec::new();
    for phase in PHASES {
        for credential in CREDENTIALS {
            for unreachable_ms in [
                None,
                Some(0),
                Some(alarm - 1),
                Some(alarm),
                Some(alarm * 10),
            ] {
                for overlay in [
                    Overlay::None,
                    Overlay::Identify,
                    Overlay::ResetArmed,
                    Overlay::ResetAwaiting,
                ] {
                    cases.push(Case {
                        phase,
                        credential,
                        unreachable_ms,
                        overlay,
                    });
                }
            }
        }
    }
    cases
}

/// Puts a face in the case's state through its public interface only.
fn face_in(case: Case) -> Face {
    let mut face = Face::new(settings());
    // Overlays first: the button does nothing once a reset runs.
    match case.overlay {
        Overlay::None => {}
        Overlay::Identify => face.identify(NOW - 1),
        Overlay::ResetArmed => {
            face.on_button(ButtonEvent::ReachedVeryLong, NOW - 1);
        }
        Overlay::ResetAwaiting => {
            face.on_button(ButtonEvent::ReachedVeryLong, NOW - 2);
            face.on_button(ButtonEvent::Released(Press::VeryLong), NOW - 1);
        }
    }
    face.set_facts(Facts {
        phase: case.phase,
        credential: case.credential,
        operator_unreachable_since_ms: case.unreachable_ms.map(|d| NOW - d),
    });
    face.update(NOW);
    face
}

/// The "when" column of docs/board.md, one predicate per row.
fn applies(mode: Mode, c: Case) -> bool {
    let alarm = settings().operator_alarm_ms;
    match mode {
        Mode::Resetting => c.phase == Phase::Resetting,
        Mode::ResetConfirm => matches!(c.overlay, Overlay::ResetArmed | Overlay::ResetAwaiting),
        Mode::Identify => c.overlay == Overlay::Identify,
        Mode::Updating => c.phase == Phase::Updating,
        Mode::Starting => c.phase == Phase::Starting,
        Mode::SetupNeeded => c.phase == Phase::SetupNeeded,
        Mode::CredentialUnusable => c.credential == CredentialFact::Unusable,
        Mode::OperatorUnreachable => c.unreachable_ms.is_some_and(|d| d >= alarm),
        Mode::PscReconnect => c.credential == CredentialFact::ReconnectNeeded,
        Mode::CardNeeded => c.credential == CredentialFact::CardNeeded,
        Mode::Ready => true,
    }
}

#[test]
fn every_state_shows_exactly_the_first_row_that_applies() {
    let cases = all_cases();
    assert_eq!(cases.len(), 5 * 4 * 5 * 4);
    let mut reached = std::collections::HashSet::new();
    for case in cases {
        let expected = Mode::ALL.into_iter().find(|&m| applies(m, case)).unwrap();
        let face = face_in(case);
        assert_eq!(face.mode(), expected, "{case:?}");
        reached.insert(face.mode());
    }
    // Every row of the table can be reached: no dead pattern.
    assert_eq!(reached.len(), Mode::ALL.len());
}

#[test]
fn modes_in_priority_order_are_the_enum_order() {
    let mut sorted = Mode::ALL;
    sorted.sort();
    assert_eq!(sorted, Mode::ALL);
}

#[test]
fn each_mode_has_its_own_look() {
    // The LED alone must tell the state.
    for (i, a) in Mode::ALL.iter().enumerate() {
        for b in &Mode::ALL[i + 1..] {
            assert_ne!(signal(*a).pattern, signal(*b).pattern, "{a:?} and {b:?}");
            assert_ne!(signal(*a).light, signal(*b).light, "{a:?} and {b:?}");
        }
    }
}

/// Rows of the board table in docs/board.md: mode id → (LED, tune).
fn documented_rows() -> Vec<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/board.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc
        .find("<!-- board-table -->")
        .expect("docs/board.md lost its table marker");
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            (
                cells[0].trim_matches('`').to_string(),
                cells[2].clone(),
                cells[3].clone(),
            )
        })
        .collect()
}

#[test]
fn the_documented_table_is_the_code() {
    let rows = documented_rows();
    let ids: Vec<String> = Mode::ALL
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let documented_ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    assert_eq!(
        documented_ids,
        ids.iter().collect::<Vec<_>>(),
        "rows or their order differ"
    );
    for (mode, (id, light, tune)) in Mode::ALL.iter().zip(&rows) {
        let s = signal(*mode);
        assert_eq!(light, s.light, "LED of {id}");
        let code_tune = s.tune.map(|t| t.name).unwrap_or("—");
        assert!(
            tune.starts_with(code_tune),
            "tune of {id}: doc {tune:?}, code {code_tune:?}"
        );
    }
}

fn running(credential: CredentialFact, unreachable_since: Option<u64>) -> Facts {
    Facts {
        phase: Phase::Running,
        credential,
        operator_unreachable_since_ms: unreachable_since,
    }
}

#[test]
fn card_then_unlock_then_operator_down_then_back() {
    let mut face = Face::new(settings());
    assert_eq!(face.mode(), Mode::Starting);
    face.set_facts(running(CredentialFact::CardNeeded, None));
    assert_eq!(face.update(0), Some(Mode::CardNeeded));
    assert_eq!(face.update(10), None, "no change, no transition");
    face.set_facts(running(CredentialFact::Ready, None));
    assert_eq!(face.update(20), Some(Mode::Ready));
    // The operator goes away at t=1000: still green until the delay.
    face.set_facts(running(CredentialFact::Ready, Some(1000)));
    let alarm = settings().operator_alarm_ms;
    assert_eq!(face.update(1000 + alarm - 1), None);
    assert_eq!(face.update(1000 + alarm), Some(Mode::OperatorUnreachable));
    face.set_facts(running(CredentialFact::Ready, None));
    assert_eq!(face.update(1000 + alarm + 5), Some(Mode::Ready));
}

#[test]
fn short_press_identifies_for_thirty_seconds() {
    let mut face = Face::new(settings());
    face.set_facts(running(CredentialFact::Ready, None));
    face.update(0);
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Short), 100),
        Some(Action::Identify)
    );
    assert_eq!(face.update(100), Some(Mode::Identify));
    assert_eq!(face.update(100 + 29_999), None);
    assert_eq!(face.update(100 + 30_000), Some(Mode::Ready));
}

#[test]
fn long_press_asks_to_retry_now() {
    let mut face = Face::new(settings());
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Long), 0),
        Some(Action::RetryNow)
    );
}

#[test]
fn factory_reset_needs_ten_seconds_then_a_short_press() {
    let mut face = Face::new(settings());
    face.set_facts(running(CredentialFact::Ready, None));
    face.update(0);
    assert_eq!(face.on_button(ButtonEvent::Down, 0), None);
    assert_eq!(face.on_button(ButtonEvent::ReachedVeryLong, 10_000), None);
    assert_eq!(face.update(10_000), Some(Mode::ResetConfirm));
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::VeryLong), 11_000),
        None,
        "letting go is not the confirmation"
    );
    assert_eq!(face.update(11_000), None);
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Short), 12_000),
        Some(Action::FactoryReset)
    );
    face.set_facts(Facts {
        phase: Phase::Resetting,
        ..face.facts()
    });
    assert_eq!(face.update(12_000), Some(Mode::Resetting));
    // Nothing the button does matters any more.
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Short), 13_000),
        None
    );
    assert_eq!(face.on_button(ButtonEvent::ReachedVeryLong, 14_000), None);
}

#[test]
fn an_unconfirmed_reset_lapses() {
    let mut face = Face::new(settings());
    face.set_facts(running(CredentialFact::CardNeeded, None));
    face.on_button(ButtonEvent::ReachedVeryLong, 10_000);
    face.on_button(ButtonEvent::Released(Press::VeryLong), 10_500);
    assert_eq!(face.update(10_500), Some(Mode::ResetConfirm));
    assert_eq!(face.update(10_500 + 14_999), None);
    assert_eq!(face.update(10_500 + 15_000), Some(Mode::CardNeeded));
    // Now a short press is an ordinary identify again.
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Short), 30_000),
        Some(Action::Identify)
    );
}

#[test]
fn a_long_press_while_asked_to_confirm_cancels() {
    let mut face = Face::new(settings());
    face.set_facts(running(CredentialFact::Ready, None));
    face.on_button(ButtonEvent::ReachedVeryLong, 10_000);
    face.on_button(ButtonEvent::Released(Press::VeryLong), 10_000);
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Long), 14_000),
        None
    );
    assert_eq!(face.update(14_000), Some(Mode::Ready));
}

#[test]
fn a_press_after_the_window_but_before_the_next_update_does_not_reset() {
    let mut face = Face::new(settings());
    face.on_button(ButtonEvent::ReachedVeryLong, 10_000);
    face.on_button(ButtonEvent::Released(Press::VeryLong), 10_000);
    assert_eq!(
        face.on_button(ButtonEvent::Released(Press::Short), 25_000),
        Some(Action::Identify)
    );
}
