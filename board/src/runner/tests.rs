use super::*;
use crate::face::{CredentialFact, Phase};
use crate::sim::SimBoard;

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn running(credential: CredentialFact) -> Facts {
    Facts {
        phase: Phase::Running,
        credential,
        operator_unreachable_since_ms: None,
    }
}

#[test]
fn the_simulated_parts_follow_the_facts() {
    let sim = SimBoard::new();
    let board = Board::start(sim.parts(), FaceSettings::default(), |_| {}).unwrap();
    wait_for("starting", || sim.state().color == Some(Rgb::WHITE));
    board.set_info(DisplayInfo {
        address: Some("https://facteur.local/".into()),
        setup_code: None,
    });
    board.set_facts(running(CredentialFact::Ready));
    wait_for("green", || sim.state().color == Some(Rgb::GREEN));
    let snap = board.snapshot();
    assert_eq!(snap.mode, Mode::Ready);
    assert_eq!(snap.light, "vert fixe");
    assert_eq!(snap.color, "#00ff00");
    assert_eq!(
        sim.state().screen.lines,
        vec!["Facteur", "Prêt", "https://facteur.local"]
    );
}

#[test]
fn a_short_press_identifies_and_beeps() {
    let sim = SimBoard::new();
    let (tx, rx) = mpsc::channel();
    let board = Board::start(sim.parts(), FaceSettings::default(), move |a| {
        let _ = tx.send(a);
    })
    .unwrap();
    board.set_facts(running(CredentialFact::Ready));
    wait_for("ready", || board.snapshot().mode == Mode::Ready);
    sim.press(Duration::from_millis(100));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Action::Identify
    );
    wait_for("identify", || board.snapshot().mode == Mode::Identify);
    assert_eq!(sim.state().tunes, vec!["beep"]);
    assert_eq!(board.snapshot().light, "blanc clignotant");
}

#[test]
fn identify_from_the_api_shows_without_an_action() {
    let sim = SimBoard::new();
    let (tx, rx) = mpsc::channel();
    let board = Board::start(sim.parts(), FaceSettings::default(), move |a| {
        let _ = tx.send(a);
    })
    .unwrap();
    board.identify();
    wait_for("identify", || board.snapshot().mode == Mode::Identify);
    assert!(rx.try_recv().is_err());
}

#[test]
fn an_amber_blink_really_blinks_on_the_part() {
    let sim = SimBoard::new();
    let board = Board::start(sim.parts(), FaceSettings::default(), |_| {}).unwrap();
    board.set_facts(running(CredentialFact::CardNeeded));
    wait_for("amber", || sim.state().color == Some(Rgb::AMBER));
    wait_for("off half of the time", || {
        sim.state().color == Some(Rgb::OFF)
    });
    wait_for("amber again", || sim.state().color == Some(Rgb::AMBER));
}

#[test]
fn stopping_turns_the_led_off_and_says_so() {
    let sim = SimBoard::new();
    let mut board = Board::start(sim.parts(), FaceSettings::default(), |_| {}).unwrap();
    board.set_facts(running(CredentialFact::Ready));
    wait_for("green", || sim.state().color == Some(Rgb::GREEN));
    board.stop();
    assert_eq!(sim.state().color, Some(Rgb::OFF));
    assert_eq!(sim.state().screen.lines, vec!["Facteur", "Arrêté"]);
}

#[test]
fn a_board_without_parts_still_runs() {
    let board = Board::start(Parts::default(), FaceSettings::default(), |_| {}).unwrap();
    board.set_facts(running(CredentialFact::Ready));
    wait_for("ready", || board.snapshot().mode == Mode::Ready);
    let parts = board.snapshot().parts;
    assert!(!parts.led && !parts.button && !parts.buzzer && !parts.display);
}

#[test]
fn the_screen_wraps_the_label_and_shows_the_setup_code() {
    let info = DisplayInfo {
        address: Some("https://facteur.local".into()),
        setup_code: Some("7Q4M-K2XD".into()),
    };
    let screen = screen_for(Mode::CardNeeded, &info);
    assert_eq!(
        screen.lines,
        vec![
            "Facteur",
            "Carte CPS absente ou",
            "code PIN à saisir",
            "https://facteur.local",
            "Code : 7Q4M-K2XD"
        ]
    );
    let confirm = screen_for(Mode::ResetConfirm, &info);
    assert_eq!(confirm.lines[1], "Tout effacer ?");
    assert!(!confirm.lines.iter().any(|l| l.contains("7Q4M")));
}
