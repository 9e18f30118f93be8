//! ISO 7816-4 command and response APDUs: encoding, status words, and the
//! errors a card can answer.

use zeroize::Zeroize;

/// A command APDU (short form: data up to 255 bytes, Le up to 256).
///
/// The data may hold a PIN: it is wiped when the command is dropped.
pub struct Command {
    bytes: Vec<u8>,
    has_le: bool,
}

impl Command {
    /// `CLA INS P1 P2 [Lc data] [Le]`; `le` is the expected answer length
    /// (`Some(0)` = up to 256 bytes).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Command {
        debug_assert!(data.len() <= 255, "extended APDUs are not used");
        let mut bytes = Vec::with_capacity(6 + data.len());
        bytes.extend_from_slice(&[cla, ins, p1, p2]);
        if !data.is_empty() {
            bytes.push(data.len() as u8);
            bytes.extend_from_slice(data);
        }
        if let Some(le) = le {
            bytes.push(le);
        }
        Command {
            bytes,
            has_le: le.is_some(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the last byte is Le (cases 2 and 4).
    pub fn has_le(&self) -> bool {
        self.has_le
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for Command {
    // The data may be a PIN: show only the header.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = &self.bytes[..4];
        write!(
            f,
            "APDU {:02X} {:02X} {:02X} {:02X} (+{} bytes)",
            h[0],
            h[1],
            h[2],
            h[3],
            self.bytes.len() - 4
        )
    }
}

/// A response APDU split into data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    /// Splits a raw answer; fewer than two bytes is a broken answer.
    pub fn parse(raw: &[u8]) -> Result<Response, CardError> {
        if raw.len() < 2 {
            return Err(CardError::Truncated { len: raw.len() });
        }
        let (data, sw) = raw.split_at(raw.len() - 2);
        Ok(Response {
            data: data.to_vec(),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }

    pub fn is_ok(&self) -> bool {
        self.sw == 0x9000
    }

    /// Data of a successful answer, or the card's refusal as an error.
    pub fn into_data(self, what: &'static str) -> Result<Vec<u8>, CardError> {
        if self.is_ok() {
            Ok(self.data)
        } else {
            Err(CardError::Status { what, sw: self.sw })
        }
    }
}

/// What can go wrong talking to a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the card's answer is truncated ({len} bytes)")]
    Truncated { len: usize },
    #[error("{what}: the card answered {sw:04X} ({})", describe_sw(*sw))]
    Status { what: &'static str, sw: u16 },
    #[error("{what}: the card's answer is malformed: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("not a CPS card")]
    NotCps,
    #[error("wrong PIN ({tries_left} tries left)")]
    WrongPin { tries_left: u8 },
    #[error("the card is blocked (3 wrong PINs): it needs its PUK at a registration desk")]
    Blocked,
    #[error("the PIN must be 4 to 8 digits")]
    PinFormat,
    #[error("PIN entry on the reader was cancelled or timed out")]
    PinPadCancelled,
    #[error("the card is not unlocked")]
    NotUnlocked,
    #[error("the card was removed")]
    Removed,
    #[error("card reader: {0}")]
    Reader(String),
}

/// Short meaning of the status words the driver meets (ISO 7816-4).
pub fn describe_sw(sw: u16) -> &'static str {
    match sw {
        0x9000 => "success",
        0x6283 => "selected file deactivated",
        0x6700 => "wrong length",
        0x6982 => "security status not satisfied",
        0x6983 => "authentication method blocked",
        0x6984 => "reference data not usable",
        0x6985 => "conditions of use not satisfied",
        0x6A80 => "incorrect data",
        0x6A81 => "function not supported",
        0x6A82 => "file or application not found",
        0x6A86 => "incorrect P1-P2",
        0x6A88 => "referenced data not found",
        0x6B00 => "wrong P1-P2",
        0x6D00 => "instruction not supported",
        0x6E00 => "class not supported",
        sw if sw & 0xFFF0 == 0x63C0 => "verification failed",
        sw if sw & 0xFF00 == 0x6100 => "more data available",
        sw if sw & 0xFF00 == 0x6C00 => "wrong Le",
        _ => "unexpected status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_cases() {
        assert_eq!(
            Command::new(0x00, 0xA4, 0x04, 0x00, &[0xE8, 0x28], None).bytes(),
            &[0x00, 0xA4, 0x04, 0x00, 0x02, 0xE8, 0x28]
        );
        assert_eq!(
            Command::new(0x00, 0xB0, 0x01, 0x00, &[], Some(0)).bytes(),
            &[0x00, 0xB0, 0x01, 0x00, 0x00]
        );
        assert_eq!(
            Command::new(0x00, 0x88, 0x00, 0x00, &[1, 2], Some(0)).bytes(),
            &[0x00, 0x88, 0x00, 0x00, 0x02, 1, 2, 0x00]
        );
    }

    #[test]
    fn debug_hides_data() {
        let c = Command::new(0x00, 0x20, 0x00, 0x81, b"1234\0\0\0\0", None);
        let shown = format!("{c:?}");
        assert!(!shown.contains("31"), "{shown}");
        assert!(shown.contains("(+9 bytes)"), "{shown}");
    }

    #[test]
    fn parses_responses() {
        let r = Response::parse(&[0xAA, 0x90, 0x00]).unwrap();
        assert!(r.is_ok());
        assert_eq!(r.data, vec![0xAA]);
        let r = Response::parse(&[0x63, 0xC2]).unwrap();
        assert_eq!(r.sw, 0x63C2);
        assert!(matches!(
            Response::parse(&[0x90]),
            Err(CardError::Truncated { len: 1 })
        ));
        let err = Response::parse(&[0x6A, 0x82])
            .unwrap()
            .into_data("select")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "select: the card answered 6A82 (file or application not found)"
        );
    }
}
