//! Printing against a real IPP printer: CUPS's `ippeveprinter` (package
//! cups-ipp-utils), started on a free loopback port with its own spool
//! directory. The test checks that the job arrives with exactly the bytes
//! of the PDF written to the to-print folder. Skipped, with a notice, when
//! ippeveprinter is not installed.
//!
//! ippeveprinter insists on a D-Bus system bus for its DNS-SD
//! advertisement (libavahi-client); the test gives it a private bus from
//! `dbus-daemon`, advertises nothing (`-r off`), and stops both at the end.

mod paper_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use facteur::config::PaperConfig;
use facteur::paper::send_on_paper;
use paper_support::*;

/// A child process killed when dropped (also when the test fails).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn config(dir: &Path, printer: Option<String>) -> PaperConfig {
    PaperConfig {
        to_print_dir: dir.join("to-print"),
        practice_name: "Cabinet médical des Halles".into(),
        practitioner: "Dr Jeanne DUPONT".into(),
        specialty: None,
        address_lines: vec![],
        postcode: "79000".into(),
        town: "Niort".into(),
        phone: None,
        email: "cabinet@test.mssante.fr".into(),
        rpps: None,
        printer,
        printer_timeout: 60,
    }
}

/// Starts a private D-Bus and ippeveprinter on a free port; waits until it
/// accepts connections.
fn start_printer(dir: &Path) -> (Running, Running, u16, PathBuf) {
    let bus = dir.join("bus");
    let dbus = Running(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address=unix:path={}", bus.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bus.exists() {
        assert!(Instant::now() < deadline, "dbus-daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let port = free_port();
    let printer = Running(
        Command::new("ippeveprinter")
            .args([
                "-p",
                &port.to_string(),
                "-f",
                "application/pdf",
                "-k",
                "-r",
                "off",
            ])
            .arg("-d")
            .arg(&spool)
            .arg("Facteur Test")
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", bus.display()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ippeveprinter"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ippeveprinter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (dbus, printer, port, spool)
}

#[tokio::test]
async fn paper_prints_on_a_real_ipp_printer() {
    if !installed("ippeveprinter") || !installed("dbus-daemon") {
        eprintln!(
            "SKIPPED: ippeveprinter or dbus-daemon is not installed (apt-get install cups-ipp-utils dbus-daemon)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_dbus, _printer, port, spool) = start_printer(dir.path());
    let cfg = config(
        dir.path(),
        Some(format!("ipp://127.0.0.1:{port}/ipp/print")),
    );
    let (head, to) = (letterhead(), recipient());
    let document = sample_pdf(2, None);

    let outcome = send_on_paper(&cfg, letter(&head, &to), &document, "CR écho DUPONT")
        .await
        .unwrap();
    assert_eq!(outcome.print_error, None);
    let job = outcome.printed.expect("a job id");
    assert!(job > 0, "job id {job}");
    assert_eq!(
        outcome.pdf_path,
        cfg.to_print_dir.join("CR écho DUPONT.pdf")
    );
    let written = std::fs::read(&outcome.pdf_path).unwrap();

    // The job lands in the spool as "<job id>-<job name>.pdf" once received.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spooled = loop {
        let found = std::fs::read_dir(&spool)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{job}-")))
            });
        if let Some(path) = found
            && std::fs::read(&path).is_ok_and(|b| b.len() == written.len())
        {
            break path;
        }
        assert!(
            Instant::now() < deadline,
            "no job file in {}",
            spool.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(std::fs::read(&spooled).unwrap(), written);
    assert!(
        spooled.to_string_lossy().ends_with(".pdf"),
        "{}",
        spooled.display()
    );

    // A second letter with the same name at once: a new file, and a new
    // job once the printer is done with the first (it answers
    // server-error-busy meanwhile, and is asked again).
    let again = send_on_paper(&cfg, letter(&head, &to), &document, "CR écho DUPONT")
        .await
        .unwrap();
    assert_eq!(
        again.pdf_path,
        cfg.to_print_dir.join("CR écho DUPONT-2.pdf")
    );
    assert!(again.printed.is_some_and(|j| j > job), "{again:?}");
}

#[tokio::test]
async fn paper_printer_unreachable_keeps_the_pdf() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then closed.
    let port = free_port();
    let cfg = config(
        dir.path(),
        Some(format!("ipp://127.0.0.1:{port}/ipp/print")),
    );
    let (head, to) = (letterhead(), recipient());
    let outcome = send_on_paper(&cfg, letter(&head, &to), &sample_pdf(1, None), "../../cr")
        .await
        .unwrap();
    assert_eq!(outcome.printed, None);
    let error = outcome.print_error.expect("a print error");
    assert!(error.contains("cannot reach the printer"), "{error}");
    // Written anyway, under a safe name inside the folder.
    assert_eq!(outcome.pdf_path, cfg.to_print_dir.join("cr.pdf"));
    let pdf = std::fs::read(&outcome.pdf_path).unwrap();
    assert_eq!(facteur::paper::inspect_pdf(&pdf).unwrap().pages, 2);

    // A bad document leaves nothing in the folder.
    let err = send_on_paper(&cfg, letter(&head, &to), b"garbage", "bad")
        .await
        .unwrap_err();
    assert!(
        matches!(err, facteur::paper::PaperError::Unreadable(_)),
        "{err}"
    );
    assert!(!cfg.to_print_dir.join("bad.pdf").exists());
    assert_eq!(std::fs::read_dir(&cfg.to_print_dir).unwrap().count(), 1);
}
