//! The control socket: tests pull and insert the card, read its counters
//! and change its speed. One command line in, one reply line out, then
//! the connection closes.
//!
//! Commands: `remove`, `insert`, `status` (one line of JSON), `delay MS`,
//! `quit`. Replies: `ok`, the JSON, or `error: ...`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::slot::Slot;

/// What a command asks the process to do after replying.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    Quit,
}

/// Binds the socket, replacing one left by an earlier run that was killed
/// (but never a regular file that happens to have that name).
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))
}

/// Serves control connections one at a time, forever (or until `quit`,
/// which ends the process).
pub fn serve(listener: UnixListener, path: PathBuf, slot: Arc<Slot>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("card-sim: control socket: {e}");
                continue;
            }
        };
        if handle(stream, &slot) == After::Quit {
            let _ = std::fs::remove_file(&path);
            if slot.verbose {
                eprintln!("card-sim: quit");
            }
            std::process::exit(0);
        }
    }
}

fn handle(stream: UnixStream, slot: &Slot) -> After {
    // A client that connects and says nothing must not stall the others.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    // Bounded: a command is a few bytes.
    let read = BufReader::new(&stream).take(256).read_line(&mut line);
    let (reply, after) = match read {
        Ok(_) => execute(slot, line.trim()),
        Err(e) => (format!("error: {e}"), After::Continue),
    };
    let mut stream = stream;
    let _ = writeln!(stream, "{reply}");
    after
}

/// Runs one command line; returns the reply line.
pub fn execute(slot: &Slot, line: &str) -> (String, After) {
    let mut words = line.split_whitespace();
    let ok = || ("ok".to_string(), After::Continue);
    match (words.next(), words.next(), words.next()) {
        (Some("remove"), None, _) => {
            slot.remove();
            ok()
        }
        (Some("insert"), None, _) => {
            slot.insert();
            ok()
        }
        (Some("status"), None, _) => (slot.status_json(), After::Continue),
        (Some("delay"), Some(ms), None) => match ms.parse::<u64>() {
            Ok(ms) => {
                slot.set_sign_delay_ms(ms);
                ok()
            }
            Err(_) => (
                format!("error: delay wants milliseconds, not {ms:?}"),
                After::Continue,
            ),
        },
        (Some("quit"), None, _) => ("ok".to_string(), After::Quit),
        (None, _, _) => ("error: empty command".to_string(), After::Continue),
        _ => (
            format!("error: unknown command {line:?} (remove, insert, status, delay MS, quit)"),
            After::Continue,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{Card, CardConfig, Fault, Profile};

    fn slot() -> Slot {
        let config = CardConfig {
            profile: Profile::Cps3,
            fault: Fault::None,
            pin: b"1234".to_vec(),
            serial: [1, 2, 3, 4, 5],
            certificate: vec![0x30, 0x00],
            key: None,
        };
        Slot::new(Card::new(config, 2, None), 0, false)
    }

    #[test]
    fn commands() {
        let s = slot();
        let (status, _) = execute(&s, "status");
        assert_eq!(
            status,
            "{\"inserted\":true,\"verified\":false,\"tries_left\":2,\"blocked\":false,\
             \"signatures\":0,\"apdus\":0,\"verify_attempts\":0,\
             \"connected\":false,\"profile\":\"cps3\",\"serial\":\"0102030405\"}"
        );
        assert_eq!(execute(&s, "remove").0, "ok");
        assert!(!s.is_inserted());
        assert!(execute(&s, "status").0.starts_with("{\"inserted\":false,"));
        assert_eq!(execute(&s, "insert").0, "ok");
        assert!(s.is_inserted());
        assert_eq!(execute(&s, "delay 1500").0, "ok");
        assert_eq!(s.sign_delay_ms(), 1500);
        assert!(execute(&s, "delay soon").0.starts_with("error: "));
        assert!(execute(&s, "delay").0.starts_with("error: "));
        assert!(execute(&s, "eject").0.starts_with("error: "));
        assert!(execute(&s, "").0.starts_with("error: "));
        assert_eq!(execute(&s, "quit"), ("ok".to_string(), After::Quit));
    }

    #[test]
    fn socket_round_trip() {
        let dir = std::env::temp_dir().join(format!("card-sim-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        // A stale socket from a killed run is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let listener = bind(&path).unwrap();
        let s = slot();
        let client = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut c = UnixStream::connect(&path).unwrap();
                c.write_all(b"delay 7\n").unwrap();
                let mut reply = String::new();
                c.read_to_string(&mut reply).unwrap();
                reply
            }
        });
        let (stream, _) = listener.accept().unwrap();
        assert_eq!(handle(stream, &s), After::Continue);
        assert_eq!(client.join().unwrap(), "ok\n");
        assert_eq!(s.sign_delay_ms(), 7);
        // Not a socket: refused.
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        assert!(bind(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
