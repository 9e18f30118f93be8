//! The card's PKCS#15 (ISO/IEC 7816-15) directory files, as ANS writes
//! them on CPS cards and ANS's Cryptolib reads them: EF.ODF points to the
//! private key, certificate and authentication object directories, which
//! describe the two keys, the authentication certificate and the PIN.
//!
//! All of it lives in the application DF 3F00/0001. Paths inside these
//! files are relative to that DF, except the certificate's, which is
//! absolute (it starts with 3F00).

/// EF.ODF, EF.PrKDF, EF.CDF, EF.AODF (FIDs 5031, 5001, 5002, 5003).
pub const ODF_FID: [u8; 2] = [0x50, 0x31];
pub const PRKDF_FID: [u8; 2] = [0x50, 0x01];
pub const CDF_FID: [u8; 2] = [0x50, 0x02];
pub const AODF_FID: [u8; 2] = [0x50, 0x03];

/// Labels ANS gives the objects (the driver finds the key by its label).
pub const AUTH_KEY_LABEL: &str = "CPS_PRIV_AUT";
pub const SIGN_KEY_LABEL: &str = "CPS_PRIV_SIG";
pub const AUTH_CERT_LABEL: &str = "CPS_CERT_AUT";
pub const PIN_LABEL: &str = "CPS_PIN";

/// What differs between cards: the key references and size, where the
/// certificate is, which PIN.
pub struct Params {
    /// keyReference of `CPS_PRIV_AUT` (what MSE:SET names).
    pub auth_key_ref: u8,
    /// keyReference of `CPS_PRIV_SIG`.
    pub sign_key_ref: u8,
    pub modulus_bits: u32,
    /// Absolute path of the authentication certificate.
    pub certificate_path: [u8; 6],
    pub pin_ref: u8,
    /// Bytes the PIN is padded to, with `pad`.
    pub pin_stored_length: u8,
    pub pin_pad: u8,
}

/// The four directory files.
pub struct Files {
    pub odf: Vec<u8>,
    pub prkdf: Vec<u8>,
    pub cdf: Vec<u8>,
    pub aodf: Vec<u8>,
}

/// A DER TLV with a one-byte tag and a definite length in its shortest
/// form.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let len = value.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// A constructed value holding `parts` one after the other.
fn cons(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    cons(0x30, parts)
}

/// The content octets of a non-negative INTEGER in DER: shortest form,
/// with a leading 00 when the top bit is set (0x82 → `00 82`).
fn integer_content(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut out = Vec::new();
    if bytes[skip] & 0x80 != 0 {
        out.push(0x00);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

pub fn integer(n: u32) -> Vec<u8> {
    tlv(0x02, &integer_content(n))
}

fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

fn utf8(text: &str) -> Vec<u8> {
    tlv(0x0C, text.as_bytes())
}

/// A BIT STRING of named bits (bit 0 first), in DER: trailing zero bits
/// dropped, the unused bit count in front.
pub fn named_bits(bits: &[u8]) -> Vec<u8> {
    let Some(&last) = bits.iter().max() else {
        return tlv(0x03, &[0x00]);
    };
    let mut content = vec![0; usize::from(last) / 8 + 1];
    for &bit in bits {
        content[usize::from(bit) / 8] |= 0x80 >> (bit % 8);
    }
    let unused = 7 - last % 8;
    tlv(0x03, &[&[unused][..], &content].concat())
}

/// `Path ::= SEQUENCE { path OCTET STRING }`.
fn path(bytes: &[u8]) -> Vec<u8> {
    seq(&[octets(bytes)])
}

/// KeyUsageFlags bits.
const USAGE_SIGN: u8 = 2;
const USAGE_NON_REPUDIATION: u8 = 9;
/// PinFlags bits.
const PIN_INITIALIZED: u8 = 4;
const PIN_NEEDS_PADDING: u8 = 5;
/// PinType ascii-numeric.
const PIN_ASCII_NUMERIC: u8 = 1;

/// The authId linking both keys to the PIN, and the iDs linking the
/// authentication key to its certificate.
const PIN_AUTH_ID: u8 = 0x01;
const AUTH_KEY_ID: u8 = 0x01;
const SIGN_KEY_ID: u8 = 0x02;

/// ODF entry tags: [0] privateKeys, [4] certificates, [8] authObjects.
const ODF_PRIVATE_KEYS: u8 = 0xA0;
const ODF_CERTIFICATES: u8 = 0xA4;
const ODF_AUTH_OBJECTS: u8 = 0xA8;

/// `privateRSAKey PKCS15Object { CommonObjectAttributes,
/// CommonKeyAttributes, -, [1] PrivateRSAKeyAttributes }`, the key being
/// on the card (empty value path).
fn rsa_key(label: &str, id: u8, usage: u8, reference: u8, modulus_bits: u32) -> Vec<u8> {
    seq(&[
        seq(&[utf8(label), octets(&[PIN_AUTH_ID])]),
        seq(&[
            octets(&[id]),
            named_bits(&[usage]),
            integer(u32::from(reference)),
        ]),
        cons(0xA1, &[seq(&[path(&[]), integer(modulus_bits)])]),
    ])
}

pub fn build(p: &Params) -> Files {
    let odf = [
        cons(ODF_PRIVATE_KEYS, &[path(&PRKDF_FID)]),
        cons(ODF_CERTIFICATES, &[path(&CDF_FID)]),
        cons(ODF_AUTH_OBJECTS, &[path(&AODF_FID)]),
    ]
    .concat();
    let prkdf = [
        rsa_key(
            AUTH_KEY_LABEL,
            AUTH_KEY_ID,
            USAGE_SIGN,
            p.auth_key_ref,
            p.modulus_bits,
        ),
        rsa_key(
            SIGN_KEY_LABEL,
            SIGN_KEY_ID,
            USAGE_NON_REPUDIATION,
            p.sign_key_ref,
            p.modulus_bits,
        ),
    ]
    .concat();
    // x509Certificate { CommonObjectAttributes, CommonCertificateAttributes,
    // -, [1] X509CertificateAttributes { value Path } }.
    let cdf = seq(&[
        seq(&[utf8(AUTH_CERT_LABEL)]),
        seq(&[octets(&[AUTH_KEY_ID])]),
        cons(0xA1, &[seq(&[path(&p.certificate_path)])]),
    ]);
    // pin { CommonObjectAttributes, CommonAuthenticationObjectAttributes,
    // -, [1] PinAttributes }.
    let aodf = seq(&[
        seq(&[utf8(PIN_LABEL)]),
        seq(&[octets(&[PIN_AUTH_ID])]),
        cons(
            0xA1,
            &[seq(&[
                named_bits(&[PIN_INITIALIZED, PIN_NEEDS_PADDING]),
                tlv(0x0A, &[PIN_ASCII_NUMERIC]),
                integer(4),
                integer(u32::from(p.pin_stored_length)),
                integer(u32::from(p.pin_stored_length)),
                // pinReference [0] Reference (an INTEGER).
                tlv(0x80, &integer_content(u32::from(p.pin_ref))),
                octets(&[p.pin_pad]),
            ])],
        ),
    ]);
    Files {
        odf,
        prkdf,
        cdf,
        aodf,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A DER element: tag, content, and the elements inside when it is
    /// constructed.
    #[derive(Debug)]
    pub struct Node<'a> {
        pub tag: u8,
        pub value: &'a [u8],
        pub children: Vec<Node<'a>>,
    }

    impl<'a> Node<'a> {
        /// The `i`-th element inside, which must carry `tag`.
        pub fn at(&self, i: usize, tag: u8) -> &Node<'a> {
            let child = &self.children[i];
            assert_eq!(child.tag, tag, "element {i} of {:02X}", self.tag);
            child
        }
    }

    /// Parses `data` as a sequence of DER elements, strictly: one-byte
    /// tags, definite lengths in their shortest form, nothing left over,
    /// constructed elements parsed down to their leaves, INTEGERs and BIT
    /// STRINGs in their canonical form.
    pub fn parse_der(mut data: &[u8]) -> Result<Vec<Node<'_>>, String> {
        let mut nodes = Vec::new();
        while !data.is_empty() {
            let [tag, first, rest @ ..] = data else {
                return Err(format!("truncated header {data:02X?}"));
            };
            if tag & 0x1F == 0x1F {
                return Err(format!("multi-byte tag {tag:02X}"));
            }
            let (len, rest) = match *first {
                n if n < 0x80 => (usize::from(n), rest),
                0x81 if rest.first().is_some_and(|b| *b >= 0x80) => {
                    (usize::from(rest[0]), &rest[1..])
                }
                0x82 if rest.first().is_some_and(|b| *b != 0) && rest.len() >= 2 => (
                    usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                    &rest[2..],
                ),
                n => return Err(format!("length byte {n:02X} (not DER)")),
            };
            if rest.len() < len {
                return Err(format!("tag {tag:02X}: {len} bytes, {} left", rest.len()));
            }
            let (value, after) = rest.split_at(len);
            let children = if tag & 0x20 != 0 {
                parse_der(value)?
            } else {
                Vec::new()
            };
            match (*tag, value) {
                (0x02, []) => return Err("empty INTEGER".into()),
                (0x02, [0x00, b, ..]) if *b < 0x80 => {
                    return Err(format!("INTEGER {value:02X?} not minimal"));
                }
                (0x02, [b, ..]) if *b >= 0x80 => {
                    return Err(format!("negative INTEGER {value:02X?}"));
                }
                (0x03, []) => return Err("BIT STRING without unused count".into()),
                (0x03, [unused, bits @ ..]) => {
                    let last = bits.last().copied().unwrap_or(0);
                    let trailing_zero = bits.is_empty() || last & (1 << unused) == 0;
                    if *unused > 7 || (*unused > 0 && bits.is_empty()) {
                        return Err(format!("BIT STRING {value:02X?}"));
                    }
                    if last & ((1u16 << unused) - 1) as u8 != 0 {
                        return Err(format!("BIT STRING {value:02X?}: unused bits set"));
                    }
                    if !bits.is_empty() && trailing_zero {
                        return Err(format!("BIT STRING {value:02X?}: trailing zero bit"));
                    }
                }
                _ => {}
            }
            nodes.push(Node {
                tag: *tag,
                value,
                children,
            });
            data = after;
        }
        Ok(nodes)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    pub fn params(auth: u8, sign: u8) -> Params {
        Params {
            auth_key_ref: auth,
            sign_key_ref: sign,
            modulus_bits: 2048,
            certificate_path: [0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01],
            pin_ref: 0x01,
            pin_stored_length: 8,
            pin_pad: 0xFF,
        }
    }

    #[test]
    fn der_primitives() {
        assert_eq!(integer(0x82), [0x02, 0x02, 0x00, 0x82]);
        assert_eq!(integer(0x81), [0x02, 0x02, 0x00, 0x81]);
        assert_eq!(integer(0x20), [0x02, 0x01, 0x20]);
        assert_eq!(integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(integer(2048), [0x02, 0x02, 0x08, 0x00]);
        assert_eq!(integer(0x8000), [0x02, 0x03, 0x00, 0x80, 0x00]);
        assert_eq!(named_bits(&[2]), [0x03, 0x02, 0x05, 0x20]);
        assert_eq!(named_bits(&[9]), [0x03, 0x03, 0x06, 0x00, 0x40]);
        assert_eq!(named_bits(&[4, 5]), [0x03, 0x02, 0x02, 0x0C]);
        assert_eq!(tlv(0x04, &[0; 0x7F])[..2], [0x04, 0x7F]);
        assert_eq!(tlv(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0; 0x123])[..4], [0x04, 0x82, 0x01, 0x23]);
        for encoded in [
            integer(0x82),
            integer(2048),
            named_bits(&[9]),
            tlv(0x04, &[0; 0x80]),
            tlv(0x04, &[0; 0x123]),
        ] {
            parse_der(&encoded).unwrap();
        }
        // The checker refuses what is not DER.
        for bad in [
            &[0x02, 0x02, 0x00, 0x20][..],
            &[0x02, 0x01, 0x82],
            &[0x03, 0x02, 0x04, 0x20],
            &[0x03, 0x02, 0x06, 0x21],
            &[0x04, 0x81, 0x05, 0, 0, 0, 0, 0],
            &[0x30, 0x03, 0x04, 0x02, 0x00],
            &[0x04, 0x02, 0x00],
            &[0x1F, 0x01, 0x00],
        ] {
            assert!(parse_der(bad).is_err(), "{bad:02X?}");
        }
    }

    #[test]
    fn cps3_files_byte_for_byte() {
        let files = build(&params(0x82, 0x81));
        assert_eq!(
            hex(&files.odf),
            concat!(
                "A00630040402",
                "5001",
                "A40630040402",
                "5002",
                "A80630040402",
                "5003"
            )
        );
        let auth = concat!(
            "302C",
            "3011",
            "0C0C",
            "4350535F505249565F415554",
            "040101",
            "300B",
            "040101",
            "03020520",
            "02020082",
            "A10A",
            "3008",
            "3002",
            "0400",
            "02020800",
        );
        let sign = concat!(
            "302D",
            "3011",
            "0C0C",
            "4350535F505249565F534947",
            "040101",
            "300C",
            "040102",
            "0303060040",
            "02020081",
            "A10A",
            "3008",
            "3002",
            "0400",
            "02020800",
        );
        assert_eq!(hex(&files.prkdf), [auth, sign].concat());
        assert_eq!(
            hex(&files.cdf),
            concat!(
                "3023",
                "300E",
                "0C0C",
                "4350535F434552545F415554",
                "3003",
                "040101",
                "A10C",
                "300A",
                "3008",
                "04063F000001C001",
            )
        );
        assert_eq!(
            hex(&files.aodf),
            concat!(
                "302A",
                "3009",
                "0C07",
                "4350535F50494E",
                "3003",
                "040101",
                "A118",
                "3016",
                "0302020C",
                "0A0101",
                "020104",
                "020108",
                "020108",
                "800101",
                "0401FF",
            )
        );
    }

    #[test]
    fn cps4_key_references() {
        let files = build(&params(0x20, 0x21));
        let keys = parse_der(&files.prkdf).unwrap();
        let reference = |key: &Node| key.at(1, 0x30).at(2, 0x02).value.to_vec();
        assert_eq!(reference(&keys[0]), [0x20]);
        assert_eq!(reference(&keys[1]), [0x21]);
        // Only the references differ from a CPS3.
        let cps3 = build(&params(0x82, 0x81));
        assert_eq!(files.odf, cps3.odf);
        assert_eq!(files.cdf, cps3.cdf);
        assert_eq!(files.aodf, cps3.aodf);
        assert_eq!(files.prkdf.len() + 2, cps3.prkdf.len());
    }
}
