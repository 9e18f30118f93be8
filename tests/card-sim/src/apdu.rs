//! Command APDU parsing (ISO 7816-4 short form) and status words, seen
//! from the card's side.

/// Status words the simulated card answers.
pub mod sw {
    pub const OK: u16 = 0x9000;
    /// End of file reached before Le bytes were read.
    pub const END_OF_FILE: u16 = 0x6282;
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Used for CPS4 commands sent before the applet opened channel 1.
    pub const CHANNEL_NOT_SUPPORTED: u16 = 0x6881;
    pub const CHAINING_NOT_SUPPORTED: u16 = 0x6884;
    pub const INCOMPATIBLE_FILE: u16 = 0x6981;
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTH_BLOCKED: u16 = 0x6983;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const INCORRECT_P1P2: u16 = 0x6A86;
    pub const REFERENCE_NOT_FOUND: u16 = 0x6A88;
    pub const WRONG_P1P2: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    pub const NO_PRECISE_DIAGNOSIS: u16 = 0x6F00;

    /// `63 Cx`: verification failed, `x` tries left.
    pub fn tries_left(n: u8) -> u16 {
        0x63C0 | u16::from(n.min(0x0F))
    }

    /// `61 xx`: `len` bytes wait for GET RESPONSE (`00` stands for 256 or more).
    pub fn bytes_available(len: usize) -> u16 {
        0x6100 | (len.min(256) & 0xFF) as u16
    }

    /// `6C xx`: wrong Le, `len` is the right one.
    pub fn wrong_le(len: usize) -> u16 {
        0x6C00 | (len.min(256) & 0xFF) as u16
    }
}

/// A parsed short command APDU.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Expected answer length; `Some(256)` when the APDU says `Le = 00`.
    pub le: Option<usize>,
}

impl<'a> Command<'a> {
    /// Splits a raw APDU into its fields. Extended-length APDUs are not
    /// used by the driver (nor accepted by CPS cards over T=0): they are
    /// refused like any other malformed length, with 6700.
    pub fn parse(raw: &'a [u8]) -> Result<Command<'a>, u16> {
        let [cla, ins, p1, p2, body @ ..] = raw else {
            return Err(sw::WRONG_LENGTH);
        };
        let le_of = |b: u8| if b == 0 { 256 } else { usize::from(b) };
        let (data, le) = match body {
            [] => (&body[..0], None),
            [le] => (&body[..0], Some(le_of(*le))),
            [0, ..] => return Err(sw::WRONG_LENGTH),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if rest.len() == lc {
                    (rest, None)
                } else if rest.len() == lc + 1 {
                    (&rest[..lc], Some(le_of(rest[lc])))
                } else {
                    return Err(sw::WRONG_LENGTH);
                }
            }
        };
        Ok(Command {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            le,
        })
    }

    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }
}

/// The header and lengths of a raw APDU, for the log: the data may be a
/// PIN, so it is never shown.
pub fn describe(raw: &[u8]) -> String {
    match Command::parse(raw) {
        Ok(c) => {
            let mut s = format!("{:02X} {:02X} {:02X} {:02X}", c.cla, c.ins, c.p1, c.p2);
            if !c.data.is_empty() {
                s.push_str(&format!(" Lc={}", c.data.len()));
            }
            if let Some(le) = c.le {
                s.push_str(&format!(" Le={le}"));
            }
            s
        }
        Err(_) => format!("malformed APDU ({} bytes)", raw.len()),
    }
}

/// An answer: data then status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Reply {
    pub fn status(sw: u16) -> Reply {
        Reply {
            data: Vec::new(),
            sw,
        }
    }

    pub fn ok(data: Vec<u8>) -> Reply {
        Reply { data, sw: sw::OK }
    }

    pub fn with(data: Vec<u8>, sw: u16) -> Reply {
        Reply { data, sw }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.data;
        bytes.extend_from_slice(&self.sw.to_be_bytes());
        bytes
    }
}

/// Splits a flat list of simple TLVs (one-byte tags and lengths under
/// 128), the form of every MANAGE SECURITY ENVIRONMENT the driver sends.
pub fn simple_tlvs(mut data: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while let [tag, len, rest @ ..] = data {
        let len = usize::from(*len);
        if len >= 0x80 || rest.len() < len {
            return None;
        }
        out.push((*tag, &rest[..len]));
        data = &rest[len..];
    }
    if data.is_empty() { Some(out) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_cases() {
        let c = Command::parse(&[0x01, 0x20, 0x00, 0x01]).unwrap();
        assert_eq!((c.data, c.le), (&[][..], None));
        let c = Command::parse(&[0x00, 0xB0, 0x00, 0x10, 0x00]).unwrap();
        assert_eq!((c.p1p2(), c.le), (0x0010, Some(256)));
        let c = Command::parse(&[0x00, 0xA4, 0x09, 0x0C, 0x02, 0x3F, 0x00]).unwrap();
        assert_eq!((c.data, c.le), (&[0x3F, 0x00][..], None));
        let c = Command::parse(&[0x00, 0x88, 0x00, 0x00, 0x02, 1, 2, 0xE7]).unwrap();
        assert_eq!((c.data, c.le), (&[1, 2][..], Some(0xE7)));
    }

    #[test]
    fn refuses_bad_lengths() {
        assert_eq!(Command::parse(&[0x00, 0xA4, 0x09]), Err(sw::WRONG_LENGTH));
        assert_eq!(
            Command::parse(&[0x00, 0xA4, 0x09, 0x0C, 0x03, 0x3F, 0x00]),
            Err(sw::WRONG_LENGTH)
        );
        // Extended length.
        assert_eq!(
            Command::parse(&[0x00, 0xA4, 0x09, 0x0C, 0x00, 0x00, 0x02, 0x3F, 0x00]),
            Err(sw::WRONG_LENGTH)
        );
    }

    #[test]
    fn describe_hides_data() {
        let verify = [
            0x00, 0x20, 0x00, 0x01, 0x08, b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let shown = describe(&verify);
        assert_eq!(shown, "00 20 00 01 Lc=8");
        assert!(!shown.contains("31"));
    }

    #[test]
    fn status_word_helpers() {
        assert_eq!(sw::tries_left(2), 0x63C2);
        assert_eq!(sw::bytes_available(256), 0x6100);
        assert_eq!(sw::bytes_available(0x19), 0x6119);
        assert_eq!(sw::wrong_le(0xE7), 0x6CE7);
        assert_eq!(
            Reply::with(vec![1], 0x6282).into_bytes(),
            vec![1, 0x62, 0x82]
        );
    }

    #[test]
    fn splits_simple_tlvs() {
        let tlvs = simple_tlvs(&[0x80, 0x01, 0x02, 0x84, 0x01, 0x82]).unwrap();
        assert_eq!(tlvs, vec![(0x80, &[0x02][..]), (0x84, &[0x82][..])]);
        assert_eq!(simple_tlvs(&[0x80, 0x02, 0x02]), None);
        assert_eq!(simple_tlvs(&[0x80]), None);
        assert_eq!(simple_tlvs(&[]), Some(vec![]));
    }
}
