//! PIN-pad readers (PC/SC v2 part 10): the PIN is typed on the reader and
//! never reaches the box.

/// `CM_IOCTL_GET_FEATURE_REQUEST`: SCARD_CTL_CODE(3400) on pcsc-lite.
pub const GET_FEATURE_REQUEST: u64 = 0x4200_0000 + 3400;
const FEATURE_VERIFY_PIN_DIRECT: u8 = 0x06;

/// The control code of FEATURE_VERIFY_PIN_DIRECT, if the reader offers it.
///
/// The answer to GET_FEATURE_REQUEST is a list of `tag, 4, code (big-endian)`.
pub fn verify_pin_direct(features: &[u8]) -> Option<u64> {
    features
        .chunks(6)
        .filter(|c| c.len() == 6 && c[1] == 4)
        .find(|c| c[0] == FEATURE_VERIFY_PIN_DIRECT)
        .map(|c| u64::from(u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
}

/// PIN_VERIFY_STRUCTURE for a VERIFY template whose data is the PIN block
/// of `block_len` bytes, already padded: the reader asks for 4 to 8 digits
/// and writes them, ASCII, at the block's start.
pub fn verify_structure(verify_template: &[u8], block_len: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(19 + verify_template.len());
    s.push(30); // bTimerOut: seconds to type the PIN
    s.push(15); // bTimerOut2: seconds between keys
    // bmFormatString: byte units, PIN at offset 0 of the block, left
    // justified, ASCII.
    s.push(0x82);
    s.push(block_len.min(15) as u8); // bmPINBlockString: no length field, block size
    s.push(0x00); // bmPINLengthFormat
    s.extend_from_slice(&[0x08, 0x04]); // wPINMaxExtraDigit: max 8, min 4 (LE: max, min)
    s.push(0x02); // bEntryValidationCondition: validation key
    s.push(0x01); // bNumberMessage
    s.extend_from_slice(&0x040Cu16.to_le_bytes()); // wLangId: French
    s.push(0x00); // bMsgIndex
    s.extend_from_slice(&[0, 0, 0]); // bTeoPrologue
    s.extend_from_slice(&(verify_template.len() as u32).to_le_bytes());
    s.extend_from_slice(verify_template);
    s
}

/// The status word a PIN-pad reader returns after the card answered.
pub fn status_word(answer: &[u8]) -> Option<u16> {
    match answer {
        [.., a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_verify_feature() {
        // FEATURE_VERIFY_PIN_START (1), then VERIFY_PIN_DIRECT (6) as the CCID driver reports them.
        let features = [
            0x01, 0x04, 0x42, 0x33, 0x00, 0x01, 0x06, 0x04, 0x42, 0x33, 0x00, 0x06,
        ];
        assert_eq!(verify_pin_direct(&features), Some(0x4233_0006));
        assert_eq!(verify_pin_direct(&features[..6]), None);
        assert_eq!(verify_pin_direct(&[0x06, 0x04, 0x42]), None);
        assert_eq!(verify_pin_direct(&[]), None);
    }

    #[test]
    fn control_code() {
        assert_eq!(GET_FEATURE_REQUEST, 0x4200_0D48);
    }

    #[test]
    fn structure_layout() {
        let template = [
            0x00, 0x20, 0x00, 0x01, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let s = verify_structure(&template, 8);
        assert_eq!(s.len(), 19 + 13);
        assert_eq!(&s[2..5], &[0x82, 0x08, 0x00]);
        assert_eq!(&s[9..11], &[0x0C, 0x04]);
        assert_eq!(&s[15..19], &[13, 0, 0, 0]);
        assert_eq!(&s[19..], &template);
    }

    #[test]
    fn status_words() {
        assert_eq!(status_word(&[0x63, 0xC1]), Some(0x63C1));
        assert_eq!(status_word(&[0x90]), None);
    }
}
