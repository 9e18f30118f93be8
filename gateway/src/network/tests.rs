use super::*;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("networkctl");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\n",
                dir.path().join("calls").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Fixture { dir }
    }

    fn config(&self, timeout: u64) -> NetworkConfig {
        NetworkConfig {
            interface: "eth0".into(),
            networkd_dir: self.dir.path().join("network"),
            networkctl: self.dir.path().join("networkctl"),
            confirm_timeout: timeout,
        }
    }

    fn open(&self, timeout: u64) -> Arc<Network> {
        Network::open(self.config(timeout), self.dir.path(), None)
    }

    fn file(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("network").join(FILE_NAME)).ok()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn fixed() -> LanSettings {
    LanSettings::Static {
        address: "192.168.1.20".parse().unwrap(),
        prefix: 24,
        gateway: "192.168.1.1".parse().unwrap(),
        dns: vec!["192.168.1.1".parse().unwrap(), "9.9.9.9".parse().unwrap()],
    }
}

#[test]
fn the_networkd_file_is_exact_and_reads_back() {
    let text = render("eth0", &fixed());
    assert_eq!(
        text,
        "# Written by Facteur (web admin, « Réseau »).\n[Match]\nName=eth0\n\n[Network]\n\
         Address=192.168.1.20/24\nGateway=192.168.1.1\nDNS=192.168.1.1\nDNS=9.9.9.9\n"
    );
    assert_eq!(parse(&text), Some(fixed()));
    assert_eq!(
        parse(&render("eth0", &LanSettings::Dhcp)),
        Some(LanSettings::Dhcp)
    );
    assert_eq!(parse("[Network]\nAddress=x\n"), None);
}

#[test]
fn settings_that_would_cut_the_box_off_are_refused() {
    let with = |address: &str, prefix: u8, gateway: &str, dns: &[&str]| LanSettings::Static {
        address: address.parse().unwrap(),
        prefix,
        gateway: gateway.parse().unwrap(),
        dns: dns.iter().map(|d| d.parse().unwrap()).collect(),
    };
    assert!(fixed().validate().is_ok());
    assert!(LanSettings::Dhcp.validate().is_ok());
    for bad in [
        with("127.0.0.1", 24, "127.0.0.2", &["9.9.9.9"]),
        with("224.0.0.5", 24, "224.0.0.1", &["9.9.9.9"]),
        with("192.168.1.20", 24, "192.168.2.1", &["9.9.9.9"]),
        with("192.168.1.20", 24, "192.168.1.20", &["9.9.9.9"]),
        with("192.168.1.255", 24, "192.168.1.1", &["9.9.9.9"]),
        with("192.168.1.0", 24, "192.168.1.1", &["9.9.9.9"]),
        with("192.168.1.20", 31, "192.168.1.21", &["9.9.9.9"]),
        with("192.168.1.20", 24, "192.168.1.1", &[]),
        with(
            "192.168.1.20",
            24,
            "192.168.1.1",
            &["1.1.1.1", "8.8.8.8", "9.9.9.9", "8.8.4.4"],
        ),
        with("169.254.1.2", 16, "169.254.1.1", &["9.9.9.9"]),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn a_confirmed_change_stays() {
    let f = Fixture::new();
    let network = f.open(30);
    assert_eq!(network.view().settings, None);
    let token = network.apply(&fixed(), "web:admin").unwrap();
    assert_eq!(token.len(), 64);
    assert_eq!(f.file(), Some(render("eth0", &fixed())));
    assert_eq!(f.calls(), ["reload", "reconfigure eth0"]);
    let view = network.view();
    assert!(view.pending_seconds.is_some_and(|s| s > 0 && s <= 30));
    // Another change while one waits is refused; a wrong token too.
    assert_eq!(
        network.apply(&LanSettings::Dhcp, "web:admin"),
        Err(NetworkError::Pending)
    );
    assert_eq!(
        network.confirm(&"0".repeat(64), "web:admin"),
        Err(NetworkError::UnknownToken)
    );
    network.confirm(&token, "web:admin").unwrap();
    assert_eq!(network.view().pending_seconds, None);
    // Used once.
    assert_eq!(
        network.confirm(&token, "web:admin"),
        Err(NetworkError::UnknownToken)
    );
    assert_eq!(network.view().settings, Some(fixed()));
}

#[test]
fn an_unconfirmed_change_is_undone_after_the_delay() {
    let f = Fixture::new();
    let network = f.open(1);
    let first = network.apply(&LanSettings::Dhcp, "web:admin").unwrap();
    network.confirm(&first, "web:admin").unwrap();
    let dhcp = f.file();
    let token = network.apply(&fixed(), "web:admin").unwrap();
    assert_eq!(f.file(), Some(render("eth0", &fixed())));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(f.file(), dhcp, "the DHCP file is back");
    assert_eq!(network.view().pending_seconds, None);
    assert_eq!(
        f.calls().len(),
        6,
        "applied twice, undone once: {:?}",
        f.calls()
    );
    assert_eq!(
        network.confirm(&token, "web:admin"),
        Err(NetworkError::UnknownToken)
    );
}

#[test]
fn a_daemon_stopped_during_the_wait_undoes_the_change_at_its_start() {
    let f = Fixture::new();
    let network = f.open(60);
    network.apply(&fixed(), "web:admin").unwrap();
    drop(network);
    // The next start (a new process in real life).
    let network = f.open(60);
    assert_eq!(f.file(), None, "there was no file before: none now");
    assert_eq!(network.view().pending_seconds, None);
    assert_eq!(f.calls().len(), 4);
}

#[test]
fn a_failing_networkctl_leaves_the_previous_settings() {
    let f = Fixture::new();
    let mut config = f.config(60);
    config.networkctl = f.dir.path().join("missing-networkctl");
    let network = Network::open(config, f.dir.path(), None);
    assert!(matches!(
        network.apply(&fixed(), "web:admin"),
        Err(NetworkError::Apply(_))
    ));
    assert_eq!(f.file(), None);
    assert_eq!(network.view().pending_seconds, None);
}
