//! The link to vpcd, vsmartcard's virtual reader inside pcscd.
//!
//! vpcd listens; the card connects to it. Every message, both ways, is a
//! 2-byte big-endian length and a payload. From vpcd, a 1-byte payload is
//! a control byte (power off, power on, reset, "send your ATR"; only the
//! last one is answered) and anything longer is a command APDU, answered
//! with the response APDU. vpcd asks for the ATR every few hundred
//! milliseconds to see whether the card is still there, so a closed
//! connection is a removed card.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::apdu;
use crate::slot::Slot;

const POWER_OFF: u8 = 0;
const POWER_ON: u8 = 1;
const RESET: u8 = 2;
const SEND_ATR: u8 = 4;

/// How often a card that should be inserted tries to reach vpcd.
const RECONNECT: Duration = Duration::from_millis(200);

pub fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0; 2];
    r.read_exact(&mut len)?;
    let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut payload)?;
    Ok(payload)
}

pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 64 KiB"))?;
    // One write, so vpcd never waits on half a message.
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame)?;
    w.flush()
}

/// Keeps the card connected to vpcd at `address` while it is inserted;
/// never returns.
pub fn run(slot: Arc<Slot>, address: &str) -> ! {
    let mut reported_down = false;
    loop {
        if !slot.is_inserted() {
            thread::sleep(RECONNECT);
            continue;
        }
        let stream = match TcpStream::connect(address) {
            Ok(stream) => stream,
            Err(e) => {
                // Say it once, not every 200 ms while pcscd is down.
                if !reported_down {
                    eprintln!("card-sim: vpcd at {address} unreachable ({e}); retrying");
                    reported_down = true;
                }
                thread::sleep(RECONNECT);
                continue;
            }
        };
        reported_down = false;
        // Small request/answer messages: do not let Nagle delay them.
        let _ = stream.set_nodelay(true);
        if !slot.attach(&stream) {
            continue;
        }
        if slot.verbose {
            eprintln!("card-sim: connected to vpcd at {address}");
        }
        let outcome = serve(&slot, stream);
        slot.detach();
        if slot.is_inserted() {
            let why = match outcome {
                Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => e.to_string(),
                _ => "closed by vpcd".to_string(),
            };
            eprintln!("card-sim: vpcd connection lost ({why}); reconnecting");
            thread::sleep(RECONNECT);
        } else if slot.verbose {
            eprintln!("card-sim: card removed");
        }
    }
}

/// Answers vpcd until the connection ends or the card is pulled.
fn serve(slot: &Slot, mut stream: TcpStream) -> io::Result<()> {
    loop {
        let message = read_frame(&mut stream)?;
        match message[..] {
            [] => {}
            [control] => {
                if let Some(atr) = control_byte(slot, control) {
                    write_frame(&mut stream, &atr)?;
                }
            }
            _ => {
                let Some(answer) = command(slot, &message) else {
                    // Pulled while it was signing: no answer, like a card.
                    return Ok(());
                };
                write_frame(&mut stream, &answer)?;
            }
        }
    }
}

/// Handles a control byte; returns the ATR when vpcd asks for it.
fn control_byte(slot: &Slot, control: u8) -> Option<Vec<u8>> {
    let mut state = slot.lock();
    match control {
        SEND_ATR => return Some(state.card.atr().to_vec()),
        POWER_OFF | POWER_ON | RESET => {
            state.card.power_cycle();
            if slot.verbose {
                let what = ["power off", "power on", "reset"][usize::from(control)];
                eprintln!("card-sim: {what}");
            }
        }
        other => eprintln!("card-sim: unknown vpcd control byte {other:02X}, ignored"),
    }
    None
}

/// Answers a command APDU, after the sign delay for signatures. `None`
/// when the card was removed during that delay.
fn command(slot: &Slot, apdu: &[u8]) -> Option<Vec<u8>> {
    let profile = slot.lock().card.profile();
    if profile.is_signature_command(apdu) {
        let delay = slot.sign_delay_ms();
        if delay > 0 {
            // Outside the lock: `status` still answers while the card "works".
            thread::sleep(Duration::from_millis(delay));
            if !slot.is_inserted() {
                return None;
            }
        }
    }
    let answer = slot.lock().card.process(apdu);
    if slot.verbose {
        let status = match answer[..] {
            [.., a, b] => format!("{a:02X}{b:02X}"),
            _ => format!("{:02X?}", answer),
        };
        eprintln!(
            "card-sim: > {}  < {status} (+{} bytes)",
            apdu::describe(apdu),
            answer.len().saturating_sub(2)
        );
    }
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[0x04]).unwrap();
        write_frame(&mut wire, &[0x00, 0xA4, 0x09, 0x0C]).unwrap();
        assert_eq!(&wire[..3], &[0x00, 0x01, 0x04]);
        let mut r = &wire[..];
        assert_eq!(read_frame(&mut r).unwrap(), vec![0x04]);
        assert_eq!(read_frame(&mut r).unwrap(), vec![0x00, 0xA4, 0x09, 0x0C]);
        assert_eq!(
            read_frame(&mut r).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // A length with no payload behind it.
        let mut r = &[0x00, 0x05, 0x01][..];
        assert!(read_frame(&mut r).is_err());
    }
}
