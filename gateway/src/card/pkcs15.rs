//! The card's PKCS#15 (ISO/IEC 7816-15) directory: which file holds the
//! authentication certificate, which key reference signs, which PIN
//! unlocks it and how the PIN is padded. The card describes this itself,
//! so the driver does not hard-code it per card series.
//!
//! Only what the driver needs is read: EF.ODF → PrKDF, CDF, AODF; the key
//! labelled `CPS_PRIV_AUT` (ANS's name for the authentication key), the
//! certificate with the same iD, and the PIN that protects the key.

use super::tlv::{self, Tlv};

/// The application directory holding the PKCS#15 files.
pub const APP_DF: [u8; 4] = [0x3F, 0x00, 0x00, 0x01];
/// EF.ODF, the object directory, inside the application directory.
pub const ODF: [u8; 2] = [0x50, 0x31];
/// Label of the authentication key on CPS cards.
const AUTH_KEY_LABEL: &str = "CPS_PRIV_AUT";

/// Where the three directory files are (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Odf {
    pub private_keys: Vec<u8>,
    pub certificates: Vec<u8>,
    pub auth_objects: Vec<u8>,
}

/// The authentication key as the PrKDF describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: Vec<u8>,
    /// Which PIN protects it (matches a PIN's authId).
    pub auth_id: Option<Vec<u8>>,
    pub reference: u8,
}

/// The PIN as the AODF describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinInfo {
    pub reference: u8,
    pub pad: u8,
    pub stored_length: usize,
}

/// Everything the driver reads from the PKCS#15 files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub auth_key: KeyInfo,
    pub certificate: Vec<u8>,
    pub pin: PinInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PKCS#15 {file}: {detail}")]
pub struct Pkcs15Error {
    pub file: &'static str,
    pub detail: String,
}

fn err(file: &'static str, detail: impl Into<String>) -> Pkcs15Error {
    Pkcs15Error {
        file,
        detail: detail.into(),
    }
}

/// A path as stored: absolute when it starts at the MF, otherwise
/// relative to the application directory.
fn absolute(path: &[u8]) -> Vec<u8> {
    if path.starts_with(&[0x3F, 0x00]) {
        path.to_vec()
    } else {
        let mut full = APP_DF.to_vec();
        full.extend_from_slice(path);
        full
    }
}

/// `Path ::= SEQUENCE { path OCTET STRING, ... }` → the path bytes.
fn path_of(value: &[u8], file: &'static str) -> Result<Vec<u8>, Pkcs15Error> {
    let seq = one(value, 0x30, file, "Path")?;
    let path = first_with_tag(seq, 0x04).ok_or_else(|| err(file, "Path without path"))?;
    if path.is_empty() || path.len() % 2 != 0 {
        return Err(err(file, format!("bad path {path:02X?}")));
    }
    Ok(absolute(path))
}

fn objects<'a>(data: &'a [u8], file: &'static str) -> Result<Vec<Tlv<'a>>, Pkcs15Error> {
    tlv::parse_all(data).ok_or_else(|| err(file, "malformed encoding"))
}

/// The single object of `value`, which must carry `tag`.
fn one<'a>(
    value: &'a [u8],
    tag: u8,
    file: &'static str,
    what: &str,
) -> Result<&'a [u8], Pkcs15Error> {
    match objects(value, file)?.as_slice() {
        [t, ..] if t.tag == [tag] => Ok(t.value),
        _ => Err(err(file, format!("{what}: expected tag {tag:02X}"))),
    }
}

fn first_with_tag(value: &[u8], tag: u8) -> Option<&[u8]> {
    tlv::parse_all(value)?
        .into_iter()
        .find(|t| t.tag == [tag])
        .map(|t| t.value)
}

/// A small unsigned INTEGER (key and PIN references, lengths).
fn small_int(value: &[u8]) -> Option<u8> {
    match value {
        [v] => Some(*v),
        [0x00, v] => Some(*v),
        _ => None,
    }
}

/// EF.ODF: the paths of the PrKDF, CDF and AODF.
pub fn parse_odf(data: &[u8]) -> Result<Odf, Pkcs15Error> {
    let mut keys = None;
    let mut certs = None;
    let mut auths = None;
    for o in objects(data, "ODF")? {
        let slot = match o.tag {
            [0xA0] => &mut keys,
            [0xA4] => &mut certs,
            [0xA8] => &mut auths,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(path_of(o.value, "ODF")?);
        }
    }
    Ok(Odf {
        private_keys: keys.ok_or_else(|| err("ODF", "no private key directory"))?,
        certificates: certs.ok_or_else(|| err("ODF", "no certificate directory"))?,
        auth_objects: auths.ok_or_else(|| err("ODF", "no PIN directory"))?,
    })
}

/// The parts of a directory entry the driver reads.
struct Entry<'a> {
    /// CommonObjectAttributes (label, authId).
    common: &'a [u8],
    /// Common key / certificate / authentication attributes (iD…).
    class: &'a [u8],
    /// `[1]` type-specific attributes.
    typed: Option<&'a [u8]>,
}

/// Splits a directory entry `SEQUENCE { commonObject, commonClass, [0]?, [1] type }`.
fn entry<'a>(value: &'a [u8], file: &'static str) -> Result<Entry<'a>, Pkcs15Error> {
    let parts = objects(value, file)?;
    let common = parts
        .first()
        .filter(|t| t.tag == [0x30])
        .ok_or_else(|| err(file, "entry without common attributes"))?;
    let class = parts
        .get(1)
        .filter(|t| t.tag == [0x30])
        .ok_or_else(|| err(file, "entry without class attributes"))?;
    let typed = parts.iter().find(|t| t.tag == [0xA1]).map(|t| t.value);
    Ok(Entry {
        common: common.value,
        class: class.value,
        typed,
    })
}

fn label(common: &[u8]) -> Option<String> {
    first_with_tag(common, 0x0C).map(|l| String::from_utf8_lossy(l).into_owned())
}

/// The authentication key from the PrKDF.
pub fn parse_prkdf(data: &[u8]) -> Result<KeyInfo, Pkcs15Error> {
    let mut keys = Vec::new();
    for o in objects(data, "PrKDF")? {
        // privateRSAKey is a plain SEQUENCE; other key types are tagged.
        if o.tag != [0x30] {
            continue;
        }
        let Entry { common, class, .. } = entry(o.value, "PrKDF")?;
        let id = first_with_tag(class, 0x04)
            .ok_or_else(|| err("PrKDF", "key without iD"))?
            .to_vec();
        let reference = first_with_tag(class, 0x02)
            .and_then(small_int)
            .ok_or_else(|| err("PrKDF", "key without usable keyReference"))?;
        keys.push((
            label(common),
            KeyInfo {
                id,
                auth_id: first_with_tag(common, 0x04).map(<[u8]>::to_vec),
                reference,
            },
        ));
    }
    keys.into_iter()
        .find(|(l, _)| l.as_deref() == Some(AUTH_KEY_LABEL))
        .map(|(_, k)| k)
        .ok_or_else(|| err("PrKDF", format!("no key labelled {AUTH_KEY_LABEL}")))
}

/// The path of the certificate whose iD is `id`, from the CDF.
pub fn parse_cdf(data: &[u8], id: &[u8]) -> Result<Vec<u8>, Pkcs15Error> {
    for o in objects(data, "CDF")? {
        if o.tag != [0x30] {
            continue;
        }
        let Entry { class, typed, .. } = entry(o.value, "CDF")?;
        if first_with_tag(class, 0x04) != Some(id) {
            continue;
        }
        let typed = typed.ok_or_else(|| err("CDF", "certificate without attributes"))?;
        let attributes = one(typed, 0x30, "CDF", "X509CertificateAttributes")?;
        return path_of(attributes, "CDF");
    }
    Err(err("CDF", "no certificate for the authentication key"))
}

/// The PIN protecting the key (by authId, else the first PIN), from the AODF.
pub fn parse_aodf(data: &[u8], auth_id: Option<&[u8]>) -> Result<PinInfo, Pkcs15Error> {
    let mut first = None;
    for o in objects(data, "AODF")? {
        if o.tag != [0x30] {
            continue;
        }
        let Entry { class, typed, .. } = entry(o.value, "AODF")?;
        let typed = typed.ok_or_else(|| err("AODF", "PIN without attributes"))?;
        let attributes = one(typed, 0x30, "AODF", "PinAttributes")?;
        let reference = first_with_tag(attributes, 0x80)
            .and_then(small_int)
            .ok_or_else(|| err("AODF", "PIN without pinReference"))?;
        let pad = first_with_tag(attributes, 0x04)
            .and_then(|p| p.first().copied())
            .unwrap_or(0xFF);
        // minLength, storedLength, maxLength are the INTEGERs, in order.
        let lengths: Vec<u8> = tlv::parse_all(attributes)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.tag == [0x02])
            .filter_map(|t| small_int(t.value))
            .collect();
        let stored_length = lengths.get(1).copied().unwrap_or(8) as usize;
        if !(4..=16).contains(&stored_length) {
            return Err(err("AODF", format!("PIN stored length {stored_length}")));
        }
        let pin = PinInfo {
            reference,
            pad,
            stored_length,
        };
        if auth_id.is_some() && first_with_tag(class, 0x04) == auth_id {
            return Ok(pin);
        }
        first.get_or_insert(pin);
    }
    first.ok_or_else(|| err("AODF", "no PIN"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// DER: tag, length, value.
    pub fn der(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if value.len() < 0x80 {
            out.push(value.len() as u8);
        } else {
            out.push(0x81);
            out.push(value.len() as u8);
        }
        out.extend_from_slice(value);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    pub fn odf() -> Vec<u8> {
        let path = |fid: [u8; 2]| der(0x30, &der(0x04, &fid));
        cat(&[
            der(0xA0, &path([0x50, 0x01])),
            der(0xA4, &path([0x50, 0x02])),
            der(0xA8, &path([0x50, 0x03])),
        ])
    }

    pub fn prkdf(auth_ref: u8) -> Vec<u8> {
        let key = |label: &str, id: u8, usage: &[u8], reference: u8| {
            der(
                0x30,
                &cat(&[
                    der(0x30, &cat(&[der(0x0C, label.as_bytes()), der(0x04, &[1])])),
                    der(
                        0x30,
                        &cat(&[
                            der(0x04, &[id]),
                            der(0x03, usage),
                            der(0x02, &[0x00, reference]),
                        ]),
                    ),
                    der(
                        0xA1,
                        &der(
                            0x30,
                            &cat(&[der(0x30, &der(0x04, &[])), der(0x02, &[0x08, 0x00])]),
                        ),
                    ),
                ]),
            )
        };
        cat(&[
            key("CPS_PRIV_SIG", 2, &[0x06, 0x00, 0x40], 0x81),
            key("CPS_PRIV_AUT", 1, &[0x05, 0x20], auth_ref),
        ])
    }

    pub fn cdf() -> Vec<u8> {
        der(
            0x30,
            &cat(&[
                der(0x30, &der(0x0C, b"CPS_CERT_AUT")),
                der(0x30, &der(0x04, &[1])),
                der(
                    0xA1,
                    &der(
                        0x30,
                        &der(0x30, &der(0x04, &[0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01])),
                    ),
                ),
            ]),
        )
    }

    pub fn aodf() -> Vec<u8> {
        der(
            0x30,
            &cat(&[
                der(0x30, &der(0x0C, b"CPS_PIN")),
                der(0x30, &der(0x04, &[1])),
                der(
                    0xA1,
                    &der(
                        0x30,
                        &cat(&[
                            der(0x03, &[0x02, 0x0C]),
                            der(0x0A, &[0x01]),
                            der(0x02, &[4]),
                            der(0x02, &[8]),
                            der(0x02, &[8]),
                            der(0x80, &[0x01]),
                            der(0x04, &[0xFF]),
                        ]),
                    ),
                ),
            ]),
        )
    }

    #[test]
    fn reads_the_directory() {
        let mut padded = odf();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        let odf = parse_odf(&padded).unwrap();
        assert_eq!(odf.private_keys, vec![0x3F, 0x00, 0x00, 0x01, 0x50, 0x01]);
        assert_eq!(odf.auth_objects, vec![0x3F, 0x00, 0x00, 0x01, 0x50, 0x03]);

        let key = parse_prkdf(&prkdf(0x82)).unwrap();
        assert_eq!(key.reference, 0x82);
        assert_eq!(key.id, vec![1]);
        assert_eq!(key.auth_id.as_deref(), Some(&[1u8][..]));

        assert_eq!(
            parse_cdf(&cdf(), &key.id).unwrap(),
            vec![0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01]
        );
        assert!(parse_cdf(&cdf(), &[2]).is_err());

        let pin = parse_aodf(&aodf(), key.auth_id.as_deref()).unwrap();
        assert_eq!(
            pin,
            PinInfo {
                reference: 1,
                pad: 0xFF,
                stored_length: 8
            }
        );
    }

    #[test]
    fn broken_directories_are_errors() {
        assert!(parse_odf(&[0xA0, 0x06, 0x30]).is_err());
        assert!(parse_odf(&der(0xA0, &der(0x30, &der(0x04, &[0x50])))).is_err());
        assert!(parse_odf(&[]).is_err());
        let mut no_auth = prkdf(0x82);
        let at = no_auth.windows(4).position(|w| w == b"_AUT").unwrap();
        no_auth[at + 1] = b'X';
        assert!(parse_prkdf(&no_auth).is_err());
        assert!(parse_aodf(&[0x30, 0x00], None).is_err());
    }
}
