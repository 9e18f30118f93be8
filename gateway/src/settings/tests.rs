use super::*;
use crate::config::{Config, ConfigError, CredentialConfig};

/// The installer's file of a box not yet set up: no mailbox, no credential.
const FACTORY: &str = r#"
data_dir = "data"
[smtp]
listen = ["127.0.0.1:2525"]
[mssante]
nil = "FACTEUR"
whitelist = "whitelist.xml"
[upstream]
host = "operator.example"
trust_anchors = "igc.pem"
"#;

fn factory() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("facteur.toml");
    std::fs::write(&path, FACTORY).unwrap();
    (dir, path)
}

fn store(path: &std::path::Path) -> SettingsStore {
    let data = path.parent().unwrap().join("data");
    SettingsStore::new(path, &data, None)
}

fn changes(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    json.as_object().unwrap().clone()
}

#[test]
fn a_factory_box_is_incomplete_until_the_practice_sets_it_up() {
    let (_dir, path) = factory();
    match Config::load(&path) {
        Err(ConfigError::Incomplete { missing, .. }) => {
            assert_eq!(missing, ["mssante.mailbox", "credential"])
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    let essentials = Layers::read(&path).unwrap().essentials().unwrap();
    assert_eq!(essentials.data_dir, path.parent().unwrap().join("data"));
    assert_eq!(
        essentials.control_socket,
        path.parent().unwrap().join("data/control.sock")
    );

    let store = store(&path);
    store
        .change(&changes(
            serde_json::json!({"mssante.mailbox": "dr.martin@medecin.test.mssante.fr"}),
        ))
        .unwrap();
    assert!(!store.view().unwrap().configured);
    store.use_card().unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.mssante.mailbox, "dr.martin@medecin.test.mssante.fr");
    assert!(matches!(config.credential, CredentialConfig::Card { .. }));
    let view = store.view().unwrap();
    assert!(view.configured);
    assert_eq!(view.credential.as_deref(), Some("card"));
    assert!(view.changed.contains(&"mssante.mailbox".to_string()));
    // The file written is owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path.parent().unwrap().join("data/settings.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn invalid_changes_are_refused_and_nothing_is_written() {
    let (_dir, path) = factory();
    let store = store(&path);
    let settings_file = path.parent().unwrap().join("data/settings.toml");
    for (json, key) in [
        (serde_json::json!({"upstream.port": "587"}), "upstream.port"),
        (serde_json::json!({"upstream.port": -1}), "upstream.port"),
        (serde_json::json!({"upstream.tls": "sometimes"}), ""),
        (serde_json::json!({"data_dir": "/tmp"}), "data_dir"),
        (serde_json::json!({"accounts": []}), "accounts"),
        (serde_json::json!({"paper.town": "a\nb"}), "paper.town"),
        (
            serde_json::json!({"smtp.trusted_networks": ["not a network"]}),
            "",
        ),
    ] {
        let err = store.change(&changes(json.clone())).unwrap_err();
        if !key.is_empty() {
            assert_eq!(err.key().as_deref(), Some(key), "{json}: {err}");
        }
        assert!(!settings_file.exists(), "{json} wrote the settings");
    }
}

#[test]
fn a_null_returns_a_setting_to_the_file() {
    let (_dir, path) = factory();
    let store = store(&path);
    store
        .change(&changes(serde_json::json!({"upstream.host": "other.example", "upstream.port": 465, "upstream.tls": "implicit"})))
        .unwrap();
    let layers = Layers::read(&path).unwrap();
    assert_eq!(
        layers.merged()["upstream"]["host"].as_str(),
        Some("other.example")
    );
    store
        .change(&changes(
            serde_json::json!({"upstream.host": null, "upstream.port": null, "upstream.tls": null}),
        ))
        .unwrap();
    let layers = Layers::read(&path).unwrap();
    assert_eq!(
        layers.merged()["upstream"]["host"].as_str(),
        Some("operator.example")
    );
    assert!(layers.overlay.is_empty(), "{:?}", layers.overlay);
}

#[test]
fn credential_is_replaced_whole_not_merged() {
    let (_dir, path) = factory();
    let mut text = FACTORY.to_string();
    text.push_str("[credential]\nkind = \"card\"\nreader = \"Virtual\"\n");
    std::fs::write(&path, text).unwrap();
    let mut base = Layers::read(&path).unwrap().base;
    let mut overlay = toml::Table::new();
    overlay.insert(
        "credential".into(),
        toml::Value::Table(
            toml::toml! { kind = "software" pkcs12 = "/x.p12" pkcs12_password_file = "/x.pass" },
        ),
    );
    merge(&mut base, &overlay);
    let credential = base["credential"].as_table().unwrap();
    assert!(!credential.contains_key("reader"));
    // And choosing the card again keeps the file's reader.
    let store = store(&path);
    store.use_card().unwrap();
    match Config::load(&path) {
        Err(ConfigError::Incomplete { missing, .. }) => assert_eq!(missing, ["mssante.mailbox"]),
        other => panic!("{other:?}"),
    }
    let merged = Layers::read(&path).unwrap().merged();
    assert_eq!(merged["credential"]["reader"].as_str(), Some("Virtual"));
}

#[test]
fn errors_in_the_practice_settings_name_the_settings_file() {
    let (dir, path) = factory();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("settings.toml"),
        "[mssante]\nmailbox = \"x@test.mssante.fr\"\n[credential]\nkind = \"card\"\n[smtp]\nmax_recipients = 0\n",
    )
    .unwrap();
    let err = Config::load(&path).unwrap_err().to_string();
    assert!(err.contains("settings.toml"), "{err}");
    assert!(err.contains("smtp.max_recipients"), "{err}");
}

#[test]
fn accounts_are_hashed_listed_and_removed() {
    let (_dir, path) = factory();
    let live = std::sync::Arc::new(crate::smtp::Accounts::new(&[]));
    let data = path.parent().unwrap().join("data");
    let store = SettingsStore::new(&path, &data, Some(live.clone()));
    assert!(matches!(
        store.set_account("Secrétariat", "a long enough password"),
        Err(SettingsError::Account(AccountError::BadUser))
    ));
    assert!(matches!(
        store.set_account("secretariat", "short"),
        Err(SettingsError::Account(AccountError::WeakPassword))
    ));
    store
        .set_account("secretariat", "a long enough password")
        .unwrap();
    store
        .set_account("accueil", "another long password")
        .unwrap();
    assert_eq!(store.accounts().unwrap(), ["secretariat", "accueil"]);
    assert_eq!(live.users(), ["accueil", "secretariat"]);
    let text = std::fs::read_to_string(data.join("settings.toml")).unwrap();
    assert!(text.contains("$argon2id$"));
    assert!(!text.contains("a long enough password"));
    store.remove_account("accueil").unwrap();
    assert!(matches!(
        store.remove_account("accueil"),
        Err(SettingsError::Account(AccountError::Unknown(_)))
    ));
    assert_eq!(live.users(), ["secretariat"]);
}

#[test]
fn a_corrupt_or_wrongly_locked_pkcs12_is_refused_and_not_kept() {
    let (_dir, path) = factory();
    let store = store(&path);
    let data = path.parent().unwrap().join("data");
    let err = store
        .use_pkcs12(b"not a pkcs12 file", "secret")
        .unwrap_err();
    assert!(
        matches!(err, SettingsError::Upload(ref e) if e.code() == "pkcs12_damaged"),
        "{err}"
    );
    let err = store
        .use_pkcs12(&vec![0u8; credential_max() + 1], "secret")
        .unwrap_err();
    assert!(
        matches!(err, SettingsError::Upload(ref e) if e.code() == "pkcs12_too_large"),
        "{err}"
    );
    let (p12, _) = test_pkcs12("good password");
    let err = store.use_pkcs12(&p12, "wrong password").unwrap_err();
    assert!(
        matches!(err, SettingsError::Upload(ref e) if e.code() == "pkcs12_wrong_password"),
        "{err}"
    );
    assert!(!data.join("settings.toml").exists());
    let kept = std::fs::read_dir(data.join("credential"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(kept, 0);
}

#[test]
fn a_good_pkcs12_becomes_the_credential_and_replaces_the_previous_one() {
    let (_dir, path) = factory();
    let store = store(&path);
    let data = path.parent().unwrap().join("data");
    store
        .change(&changes(
            serde_json::json!({"mssante.mailbox": "cabinet@test.mssante.fr"}),
        ))
        .unwrap();
    let (p12, cn) = test_pkcs12("good password");
    let first = store.use_pkcs12(&p12, "good password").unwrap();
    assert!(first.identity.contains(&cn), "{}", first.identity);
    let second = store.use_pkcs12(&p12, "good password").unwrap();
    let config = Config::load(&path).unwrap();
    match &config.credential {
        CredentialConfig::Software { pkcs12, .. } => {
            assert_eq!(pkcs12.as_ref(), Some(&second.pkcs12))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !first.pkcs12.exists(),
        "the replaced certificate is removed"
    );
    assert_eq!(
        std::fs::read_dir(data.join("credential")).unwrap().count(),
        2
    );
    // The daemon can load what was stored.
    crate::daemon::load_credential(&config, Vec::new()).unwrap();
}

#[test]
fn operators_file_is_checked() {
    let built_in = Operators::load(None).unwrap();
    assert!(built_in.get("manual").unwrap().manual);
    let ops = Operators::parse(
        "t",
        r#"
[[operator]]
id = "test"
name = "Opérateur de test"
smtp_host = "smtp.test"
imap_host = "imap.test"
imap_port = 993
imap_tls = "implicit"
"#,
    )
    .unwrap();
    let settings = ops.get("test").unwrap().settings();
    assert!(settings.contains(&("upstream.imap_port", serde_json::json!(993))));
    assert!(settings.contains(&("upstream.imap_tls", serde_json::json!("implicit"))));
    assert!(settings.contains(&("upstream.server_name", serde_json::Value::Null)));
    for bad in [
        "[[operator]]\nid = \"a b\"\nname = \"x\"\nmanual = true\n",
        "[[operator]]\nid = \"a\"\nname = \"x\"\n",
        "[[operator]]\nid = \"a\"\nname = \"x\"\nmanual = true\n[[operator]]\nid = \"a\"\nname = \"y\"\nmanual = true\n",
        "[[operator]]\nid = \"a\"\nname = \"x\"\nmanual = true\nmailbox_types = [\"paper\"]\n",
        "[[operator]]\nid = \"a\"\nname = \"x\"\nmanual = true\nextra = 1\n",
    ] {
        assert!(Operators::parse("t", bad).is_err(), "{bad}");
    }
}

fn credential_max() -> usize {
    super::credential::MAX_PKCS12
}

/// A PKCS#12 file with a fresh self-signed certificate and its key.
fn test_pkcs12(password: &str) -> (Vec<u8>, String) {
    let cn = "Cabinet Test Facteur".to_string();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.clone());
    let cert = params.self_signed(&key).unwrap();
    let der_key = key.serialize_der();
    let certificate = p12_keystore::Certificate::from_der(cert.der()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(der_key, [1u8; 20], vec![certificate]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("key", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let p12 = store.writer(password).write().unwrap();
    (p12, cn)
}

fn book(path: &std::path::Path) -> crate::directory::AddressBook {
    crate::directory::AddressBook::open(&path.parent().unwrap().join("data")).unwrap()
}

fn contact(name: &str, address: &str) -> crate::directory::Contact {
    crate::directory::Contact {
        display_name: name.into(),
        profession: "Médecin".into(),
        town: "Niort".into(),
        mssante: Some(address.into()),
        ..Default::default()
    }
}

#[test]
fn a_backup_sets_up_a_replacement_box() {
    let (_a, old_path) = factory();
    let old = store(&old_path);
    old.change(&changes(
        serde_json::json!({"mssante.mailbox": "cabinet@test.mssante.fr", "upstream.port": 465}),
    ))
    .unwrap();
    let (p12, _) = test_pkcs12("good password");
    old.use_pkcs12(&p12, "good password").unwrap();
    old.set_account("secretariat", "a long enough password")
        .unwrap();
    let old_book = book(&old_path);
    old_book
        .add(contact(
            "Dr MARTIN Paul",
            "paul.martin@medecin.test.mssante.fr",
        ))
        .unwrap();
    let backup = old.backup(Some(&old_book)).unwrap();
    assert_eq!(backup.format, BACKUP_FORMAT);
    assert_eq!(backup.mailbox.as_deref(), Some("cabinet@test.mssante.fr"));
    assert!(backup.certificate.is_some());
    // Through JSON, as it travels.
    let json = serde_json::to_vec(&backup).unwrap();
    let backup: Backup = serde_json::from_slice(&json).unwrap();

    let (_b, new_path) = factory();
    let live = std::sync::Arc::new(crate::smtp::Accounts::new(&[]));
    let new = SettingsStore::new(
        &new_path,
        &new_path.parent().unwrap().join("data"),
        Some(live.clone()),
    );
    let new_book = book(&new_path);
    new_book
        .add(contact("Dr ANCIEN", "ancien@medecin.test.mssante.fr"))
        .unwrap();
    let restored = new.restore(&backup, Some(&new_book)).unwrap();
    assert_eq!(restored.credential.as_deref(), Some("software"));
    assert_eq!((restored.accounts, restored.contacts), (1, 1));
    let config = Config::load(&new_path).unwrap();
    assert_eq!(config.mssante.mailbox, "cabinet@test.mssante.fr");
    assert_eq!(config.upstream.port, 465);
    match &config.credential {
        CredentialConfig::Software {
            pkcs12: Some(p), ..
        } => {
            assert!(
                p.starts_with(new_path.parent().unwrap().join("data/credential")),
                "{}",
                p.display()
            )
        }
        other => panic!("{other:?}"),
    }
    crate::daemon::load_credential(&config, Vec::new()).unwrap();
    assert_eq!(live.users(), ["secretariat"]);
    let names: Vec<String> = new_book
        .list()
        .unwrap()
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names, ["Dr MARTIN Paul"]);
}

#[test]
fn a_bad_backup_changes_nothing() {
    let (_a, old_path) = factory();
    let old = store(&old_path);
    old.change(&changes(
        serde_json::json!({"mssante.mailbox": "cabinet@test.mssante.fr"}),
    ))
    .unwrap();
    let (p12, _) = test_pkcs12("good password");
    old.use_pkcs12(&p12, "good password").unwrap();
    let good = old.backup(None).unwrap();

    let (_b, path) = factory();
    let target = store(&path);
    target
        .change(&changes(
            serde_json::json!({"mssante.mailbox": "autre@test.mssante.fr"}),
        ))
        .unwrap();
    let settings_file = path.parent().unwrap().join("data/settings.toml");
    let before = std::fs::read(&settings_file).unwrap();
    let target_book = book(&path);
    target_book
        .add(contact("Dr GARDÉ", "garde@medecin.test.mssante.fr"))
        .unwrap();

    let mut newer = good.clone();
    newer.format = 2;
    let mut broken_settings = good.clone();
    broken_settings
        .settings
        .push_str("\n[smtp]\nmax_recipients = 0\n");
    let mut wrong_password = good.clone();
    if let Some(c) = wrong_password.certificate.as_mut() {
        c.password = zeroize::Zeroizing::new("nope".into());
    }
    let mut no_certificate = good.clone();
    no_certificate.certificate = None;
    let mut bad_contact = good.clone();
    bad_contact.contacts = vec![contact("", "x@medecin.test.mssante.fr")];
    for (what, backup) in [
        ("newer format", newer),
        ("invalid settings", broken_settings),
        ("wrong certificate password", wrong_password),
        ("settings naming a missing certificate", no_certificate),
        ("invalid contact", bad_contact),
    ] {
        assert!(
            target.restore(&backup, Some(&target_book)).is_err(),
            "{what}"
        );
        assert_eq!(std::fs::read(&settings_file).unwrap(), before, "{what}");
        let names: Vec<String> = target_book
            .list()
            .unwrap()
            .into_iter()
            .map(|c| c.display_name)
            .collect();
        assert_eq!(names, ["Dr GARDÉ"], "{what}");
        let kept = std::fs::read_dir(path.parent().unwrap().join("data/credential"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(kept, 0, "{what}: certificate files left behind");
    }
}

#[test]
fn the_practice_chooses_how_to_log_in_to_pro_sante_connect() {
    let (_dir, path) = factory();
    let store = store(&path);
    // No provider registration from the installer: nothing to choose.
    assert!(matches!(
        store.use_psc("ecps", None),
        Err(SettingsError::NotEditable(_))
    ));
    let mut text = FACTORY.to_string();
    text.push_str(
        "[credential]\nkind = \"psc\"\nlogin = \"card\"\nissuer = \"https://psc.example\"\n\
         client_id = \"facteur\"\nclient_secret_file = \"secret\"\n",
    );
    std::fs::write(&path, text).unwrap();
    store.use_psc("ecps", Some("899700000001")).unwrap();
    let merged = Layers::read(&path).unwrap().merged();
    assert_eq!(merged["credential"]["login"].as_str(), Some("ecps"));
    assert_eq!(
        merged["credential"]["national_id"].as_str(),
        Some("899700000001")
    );
    // The installer's registration is kept whole.
    assert_eq!(merged["credential"]["client_id"].as_str(), Some("facteur"));

    // Checked like the file: a bad id or method changes nothing.
    assert!(store.use_psc("sms", None).is_err());
    let bad = store.use_psc("ecps", Some("12ab")).unwrap_err();
    assert_eq!(bad.key().as_deref(), Some("credential.national_id"));
    let merged = Layers::read(&path).unwrap().merged();
    assert_eq!(
        merged["credential"]["national_id"].as_str(),
        Some("899700000001")
    );
    store.use_psc("card", None).unwrap();
    let merged = Layers::read(&path).unwrap().merged();
    assert_eq!(merged["credential"]["login"].as_str(), Some("card"));
    // Only the choice is in the practice's file: a new client secret in
    // the installer's file applies.
    let overlay = Layers::read(&path).unwrap().overlay;
    let keys: Vec<&String> = overlay["credential"].as_table().unwrap().keys().collect();
    assert_eq!(keys, ["kind", "login"]);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "client_secret_file = \"secret\"",
        "client_secret_file = \"secret-2026\"",
    );
    std::fs::write(&path, text).unwrap();
    let merged = Layers::read(&path).unwrap().merged();
    assert_eq!(
        merged["credential"]["client_secret_file"].as_str(),
        Some("secret-2026")
    );
    assert_eq!(merged["credential"]["login"].as_str(), Some("card"));
}
