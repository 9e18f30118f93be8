//! Just enough BER-TLV to find a data object in a card's answer.

/// Finds the value of `tag` (one- or two-byte tag) anywhere in `data`,
/// descending into constructed objects. Malformed input yields `None`.
pub fn find(data: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let mut rest = data;
    while !rest.is_empty() {
        let (this_tag, after_tag) = split_tag(rest)?;
        let (len, after_len) = split_len(after_tag)?;
        if after_len.len() < len {
            return None;
        }
        let (value, next) = after_len.split_at(len);
        if this_tag == tag {
            return Some(value.to_vec());
        }
        // Bit 6 of the first tag byte marks a constructed object.
        if this_tag[0] & 0x20 != 0
            && let Some(found) = find(value, tag)
        {
            return Some(found);
        }
        rest = next;
    }
    None
}

fn split_tag(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *data.first()?;
    let mut n = 1;
    if first & 0x1F == 0x1F {
        // Subsequent bytes while bit 8 is set.
        loop {
            let b = *data.get(n)?;
            n += 1;
            if b & 0x80 == 0 {
                break;
            }
            if n > 4 {
                return None;
            }
        }
    }
    Some(data.split_at(n))
}

fn split_len(data: &[u8]) -> Option<(usize, &[u8])> {
    let first = *data.first()?;
    match first {
        0..=0x7F => Some((first as usize, &data[1..])),
        0x81 => Some((*data.get(1)? as usize, data.get(2..)?)),
        0x82 => Some((
            u16::from_be_bytes([*data.get(1)?, *data.get(2)?]) as usize,
            data.get(3..)?,
        )),
        _ => None,
    }
}

/// One data object: its tag bytes and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: &'a [u8],
    pub value: &'a [u8],
}

/// Splits `data` into consecutive objects. Padding after the last object
/// (0x00 or 0xFF, as left in a file larger than its content) is ignored;
/// anything else malformed yields `None`.
pub fn parse_all(data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0x00) || rest.iter().all(|b| *b == 0xFF) {
            break;
        }
        let (tag, after_tag) = split_tag(rest)?;
        let (len, after_len) = split_len(after_tag)?;
        if after_len.len() < len {
            return None;
        }
        let (value, next) = after_len.split_at(len);
        out.push(Tlv { tag, value });
        rest = next;
    }
    Some(out)
}

/// Length of a DER object from its header (tag + length), if complete.
pub fn der_total_len(header: &[u8]) -> Option<usize> {
    let (_, after_tag) = split_tag(header)?;
    let (len, rest) = split_len(after_tag)?;
    Some(header.len() - rest.len() + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    // An answer to GET DATA on a PIN's security data object.
    const PIN_INFO: &[u8] = &[
        0x70, 0x16, 0xBF, 0x81, 0x01, 0x12, 0xA0, 0x10, 0x9A, 0x01, 0x03, 0x9B, 0x01, 0x02, 0xA1,
        0x08, 0x8C, 0x06, 0xF3, 0x00, 0x00, 0x13, 0xFF, 0x00,
    ];

    #[test]
    fn finds_nested_objects() {
        assert_eq!(find(PIN_INFO, &[0x9A]), Some(vec![3]));
        assert_eq!(find(PIN_INFO, &[0x9B]), Some(vec![2]));
        assert_eq!(find(PIN_INFO, &[0x9D]), None);
    }

    #[test]
    fn malformed_is_none() {
        assert_eq!(find(&PIN_INFO[..10], &[0x9B]), None);
        assert_eq!(find(&[0x9B, 0x85, 1], &[0x9B]), None);
        assert_eq!(find(&[0x1F], &[0x9B]), None);
        assert_eq!(find(&[], &[0x9B]), None);
    }

    #[test]
    fn splits_objects_and_ignores_padding() {
        let objs = parse_all(&[0x80, 0x01, 0x05, 0xA1, 0x02, 0x04, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].tag, &[0x80]);
        assert_eq!(objs[1].value, &[0x04, 0x00]);
        assert_eq!(parse_all(&[0x80, 0x05, 0x01]), None);
        assert_eq!(parse_all(&[0xFF, 0xFF]).unwrap().len(), 0);
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_total_len(&[0x30, 0x82, 0x04, 0x00]), Some(4 + 1024));
        assert_eq!(der_total_len(&[0x30, 0x10]), Some(18));
        assert_eq!(der_total_len(&[0x30]), None);
    }
}
