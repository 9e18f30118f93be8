use super::*;

fn open(dir: &Path) -> Audit {
    Audit::open(dir, AuditSettings::default()).unwrap()
}

fn write_n(audit: &Audit, n: usize) {
    for i in 0..n {
        audit.record(
            Event::new("daemon", "message_sent")
                .object(format!("{i:016X}"))
                .detail("to dr.martin@test.mssante.fr"),
        );
    }
    audit.flush_blocking();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

#[test]
fn entries_chain_from_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let audit = open(dir.path());
    write_n(&audit, 3);
    let entries = list(dir.path(), None, 100).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].seq, 1);
    assert_eq!(entries[0].prev, GENESIS);
    assert_eq!(entries[1].prev, entries[0].hash);
    assert_eq!(entries[2].prev, entries[1].hash);
    for e in &entries {
        assert_eq!(e.hash, e.compute_hash());
        assert_eq!(e.hash.len(), 64);
    }
    // The hash covers prev: the same fields after another entry differ.
    let mut moved = entries[1].clone();
    moved.prev = GENESIS.into();
    assert_ne!(moved.compute_hash(), entries[1].hash);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries, 3);
    assert_eq!(report.files, 1);
    assert_eq!(report.last_hash, entries[2].hash);
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 2);
    write_n(&open(dir.path()), 2);
    let entries = list(dir.path(), None, 100).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(entries[2].prev, entries[1].hash);
    assert!(verify(dir.path()).unwrap().ok());
}

#[test]
fn an_edited_byte_is_found() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 5);
    let path = dir.path().join(LOG_NAME);
    let mut l = lines(&path);
    l[2] = l[2].replace("dr.martin", "dr.martjn");
    rewrite(&path, &l);
    let bad = verify(dir.path()).unwrap().first_bad.unwrap();
    assert_eq!((bad.file.as_str(), bad.line), ("audit.log", 3));
    assert!(bad.reason.contains("edited"), "{}", bad.reason);
}

#[test]
fn a_recomputed_hash_still_breaks_the_next_line() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 3);
    let path = dir.path().join(LOG_NAME);
    let mut l = lines(&path);
    let mut entry: AuditEntry = serde_json::from_str(&l[1]).unwrap();
    entry.detail = Some("forged".into());
    entry.hash = entry.compute_hash();
    l[1] = entry.to_line();
    rewrite(&path, &l);
    let bad = verify(dir.path()).unwrap().first_bad.unwrap();
    assert_eq!(bad.line, 3);
    assert!(bad.reason.contains("prev"), "{}", bad.reason);
}

#[test]
fn a_deleted_line_is_found() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 5);
    let path = dir.path().join(LOG_NAME);
    let mut l = lines(&path);
    l.remove(1);
    rewrite(&path, &l);
    let bad = verify(dir.path()).unwrap().first_bad.unwrap();
    assert_eq!(bad.line, 2);
    assert!(bad.reason.contains("removed"), "{}", bad.reason);
}

#[test]
fn reordered_lines_are_found() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 5);
    let path = dir.path().join(LOG_NAME);
    let mut l = lines(&path);
    l.swap(2, 3);
    rewrite(&path, &l);
    let bad = verify(dir.path()).unwrap().first_bad.unwrap();
    assert_eq!(bad.line, 3);
}

#[test]
fn a_torn_tail_is_reported_then_set_aside_at_start() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 3);
    let path = dir.path().join(LOG_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":4,\"at\":17");
    std::fs::write(&path, &bytes).unwrap();
    let report = verify(dir.path()).unwrap();
    let bad = report.first_bad.unwrap();
    assert_eq!(bad.line, 4);
    assert!(bad.reason.contains("incomplete"), "{}", bad.reason);
    assert_eq!(report.entries, 3);

    // Next start: cut, kept aside, recorded, chain intact.
    let audit = open(dir.path());
    write_n(&audit, 1);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    let entries = list(dir.path(), None, 100).unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[3].action, "audit_recovered");
    let detail = entries[3].detail.clone().unwrap();
    assert!(detail.contains("16 bytes"), "{detail}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("torn-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).unwrap(),
        b"{\"seq\":4,\"at\":17"
    );
}

#[test]
fn zeros_after_a_power_cut_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 2);
    let path = dir.path().join(LOG_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 40]);
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).unwrap();
    let audit = open(dir.path());
    write_n(&audit, 1);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries, 4);
}

#[test]
fn rotated_files_verify_as_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let audit = Audit::open(
        dir.path(),
        AuditSettings {
            max_file_bytes: 600,
        },
    )
    .unwrap();
    write_n(&audit, 20);
    drop(audit);
    let files = audit_files(dir.path()).unwrap();
    assert!(files.len() > 3, "{files:?}");
    assert_eq!(files[0].number, Some(1));
    assert_eq!(files.last().unwrap().number, None);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries, 20);
    assert_eq!(report.files, files.len());
    // The first line of a later file chains to the last of the one before.
    let first_of_2: AuditEntry = serde_json::from_str(&lines(&files[1].path)[0]).unwrap();
    let last_of_1: AuditEntry =
        serde_json::from_str(lines(&files[0].path).last().unwrap()).unwrap();
    assert_eq!(first_of_2.prev, last_of_1.hash);
    // Listing spans files.
    let last5 = list(dir.path(), None, 5).unwrap();
    assert_eq!(
        last5.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [16, 17, 18, 19, 20]
    );
    let page = list(dir.path(), Some(3), 4).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6, 7]);
    // Removing a whole rotated file is found.
    std::fs::remove_file(&files[1].path).unwrap();
    let bad = verify(dir.path()).unwrap().first_bad.unwrap();
    assert_eq!(bad.line, 1);
    // Reopening after rotation continues in the new file.
    let dir2 = tempfile::tempdir().unwrap();
    let audit = Audit::open(
        dir2.path(),
        AuditSettings {
            max_file_bytes: 600,
        },
    )
    .unwrap();
    write_n(&audit, 7);
    drop(audit);
    let audit = Audit::open(
        dir2.path(),
        AuditSettings {
            max_file_bytes: 600,
        },
    )
    .unwrap();
    write_n(&audit, 7);
    let report = verify(dir2.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries, 14);
}

#[test]
fn a_missing_current_file_after_rotation_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_n(&open(dir.path()), 3);
    // A crash between the rename and the creation of the new file.
    std::fs::rename(dir.path().join(LOG_NAME), dir.path().join("audit.log.1")).unwrap();
    write_n(&open(dir.path()), 2);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.entries, report.files), (5, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_ordered_and_chained() {
    let dir = tempfile::tempdir().unwrap();
    let audit = open(dir.path());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let audit = audit.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let entry = audit
                    .append(Event::new("web:admin", "settings_changed").object(format!("k{t}.{i}")))
                    .await
                    .unwrap();
                seqs.push(entry.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        // Each writer's own entries come in the order it wrote them.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>());
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.entries, 200);
}

#[tokio::test]
async fn events_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let audit = open(dir.path());
    for bad in [
        Event::new("web:admin", "Sign-In"),
        Event::new("web:admin", ""),
        Event::new("web admin", "signin"),
        Event::new("web:admin", "signin").detail("line\nbreak"),
        Event::new("web:admin", "signin").object("x".repeat(MAX_OBJECT + 1)),
    ] {
        assert!(matches!(
            audit.append(bad).await,
            Err(AuditError::Invalid(_))
        ));
    }
    let ok = audit
        .append(Event::new("web:admin", "signin").detail("from 192.168.1.20"))
        .await
        .unwrap();
    assert_eq!(ok.seq, 1);
    // Daemon events are cleaned rather than lost.
    audit.record(Event::new("smtp:dr martin", "message_accepted").detail("a\r\nb"));
    audit.flush().await;
    let entries = list(dir.path(), None, 10).unwrap();
    assert_eq!(entries[1].actor, "smtp:dr_martin");
    assert_eq!(entries[1].detail.as_deref(), Some("a  b"));
}
