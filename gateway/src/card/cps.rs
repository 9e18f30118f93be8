//! The CPS card's command set: recognising CPS3 (IAS-ECC) and CPS4
//! (ChipDoc) cards, reading the authentication certificate, the PIN and
//! its try counter, and signing on the card.
//!
//! The driver speaks to a [`Transport`] (PC/SC in the daemon), so the
//! same code runs against a real card, the test card simulator, and the
//! scripted answers of the unit tests.

use zeroize::{Zeroize, Zeroizing};

use super::apdu::{CardError, Command, Response};
use super::pkcs15::{self, Layout};
use super::tlv;

/// Sends one APDU and returns the card's raw answer (data + SW1 SW2).
pub trait Transport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError>;
}

/// The card generations in the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// IAS-ECC, RSA-2048, PKCS#1 v1.5 only.
    Cps3,
    /// NXP ChipDoc (issued since 2025), also RSA-PSS; commands on logical channel 1.
    Cps4,
}

/// CPS3 contact ATR and its mask (bytes that vary between batches are 0).
const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00, 0x90,
    0x00,
];
const CPS3_ATR_MASK: [u8; 17] = [
    0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF,
    0xFF,
];
/// CPS4 ATRs (production, release candidate, T=0 only).
const CPS4_ATRS: [&[u8]; 3] = [
    &[
        0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00,
        0x90, 0x44,
    ],
    &[
        0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x04, 0x01, 0x00,
        0x90, 0x44,
    ],
    &[
        0x3B, 0xDC, 0x18, 0xFF, 0x00, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x04, 0x01, 0x00,
        0x90, 0x00,
    ],
];

/// ChipDoc CPS applet, selected on logical channel 1.
const CPS4_APPLET: [u8; 8] = [0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00];
/// EF.SN, the card serial number: `3F00/D003`.
const EF_SN: [u8; 4] = [0x3F, 0x00, 0xD0, 0x03];
/// Bytes 2..7 of EF.SN on every CPS card (ANS's issuer number).
const SN_ISSUER: [u8; 5] = [0x80, 0x25, 0x00, 0x00, 0x01];
/// Algorithm references: CPS3 "RSA PKCS#1 v1.5 with DigestInfo given",
/// CPS4 RSA-PSS SHA-256.
const CPS3_ALG_PKCS1: u8 = 0x02;
const CPS4_ALG_PSS_SHA256: u8 = 0x2C;

/// DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

impl Profile {
    /// Recognises a CPS card from its answer-to-reset.
    pub fn from_atr(atr: &[u8]) -> Option<Profile> {
        if atr.len() == CPS3_ATR.len()
            && atr
                .iter()
                .zip(CPS3_ATR.iter().zip(CPS3_ATR_MASK.iter()))
                .all(|(a, (v, m))| a & m == v & m)
        {
            return Some(Profile::Cps3);
        }
        if CPS4_ATRS.contains(&atr) {
            return Some(Profile::Cps4);
        }
        None
    }

    fn cla(self) -> u8 {
        match self {
            Profile::Cps3 => 0x00,
            Profile::Cps4 => 0x01,
        }
    }

    /// Most bytes a READ BINARY may ask for.
    fn read_chunk(self) -> usize {
        match self {
            Profile::Cps3 => 0xE7,
            Profile::Cps4 => 0x100,
        }
    }
}

/// How the handshake is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Pkcs1Sha256,
    PssSha256,
}

/// The PIN try counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PinTries {
    pub left: u8,
    pub max: u8,
}

/// A PIN as typed: digits only, wiped from memory when dropped.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Accepts 4 to 8 digits (CPS PINs are 4 digits; longer ones exist on
    /// other IAS-ECC cards and are refused by the card itself, not here).
    pub fn new(text: Zeroizing<String>) -> Result<Pin, CardError> {
        let t = text.trim();
        if !(4..=8).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::PinFormat);
        }
        Ok(Pin(Zeroizing::new(t.to_string())))
    }

    /// The PIN block: ASCII digits padded to `len` bytes with `pad`.
    fn block(&self, len: usize, pad: u8) -> Result<Zeroizing<Vec<u8>>, CardError> {
        if self.0.len() > len {
            return Err(CardError::PinFormat);
        }
        let mut block = Zeroizing::new(vec![pad; len]);
        block[..self.0.len()].copy_from_slice(self.0.as_bytes());
        Ok(block)
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

/// A recognised CPS card, ready for commands.
pub struct CpsCard<T: Transport> {
    transport: T,
    profile: Profile,
    /// Key, certificate and PIN as the card's PKCS#15 files describe them.
    layout: Option<Layout>,
    /// Size of the authentication key's modulus: every signature has it.
    key_bytes: usize,
}

impl<T: Transport> CpsCard<T> {
    /// Recognises the card: its ATR names the profile, then its serial
    /// number file must carry ANS's issuer number. Anything else is
    /// [`CardError::NotCps`].
    pub fn open(transport: T, atr: &[u8]) -> Result<(CpsCard<T>, String), CardError> {
        let profile = Profile::from_atr(atr).ok_or(CardError::NotCps)?;
        let mut card = CpsCard {
            transport,
            profile,
            layout: None,
            key_bytes: 256,
        };
        if profile == Profile::Cps4 {
            let select = Command::new(0x01, 0xA4, 0x04, 0x0C, &CPS4_APPLET, None);
            let r = card.exchange(&select)?;
            if !r.is_ok() {
                return Err(CardError::NotCps);
            }
        }
        let sn = match card.read_file(&EF_SN, "serial number") {
            Ok(sn) => sn,
            Err(CardError::Status { .. }) => return Err(CardError::NotCps),
            Err(e) => return Err(e),
        };
        // 5A 0A <issuer 5 bytes> <serial 5 bytes>.
        if sn.len() < 12 || sn[0] != 0x5A || sn[2..7] != SN_ISSUER {
            return Err(CardError::NotCps);
        }
        let serial = sn[7..2 + sn[1].min(10) as usize]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Ok((card, serial))
    }

    /// Sets the key size read from the certificate (RSA-2048 until then).
    pub fn set_key_bytes(&mut self, key_bytes: usize) {
        self.key_bytes = key_bytes;
    }

    /// The connection underneath (for reader-level commands).
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The signing schemes this card can do, best first.
    pub fn paddings(&self) -> &'static [Padding] {
        match self.profile {
            Profile::Cps3 => &[Padding::Pkcs1Sha256],
            Profile::Cps4 => &[Padding::PssSha256, Padding::Pkcs1Sha256],
        }
    }

    /// Reads the card's PKCS#15 directory: where the authentication
    /// certificate is, the key reference, the PIN reference and format.
    pub fn load_layout(&mut self) -> Result<(), CardError> {
        let malformed = |e: pkcs15::Pkcs15Error| CardError::Malformed {
            what: "card directory (PKCS#15)",
            detail: e.to_string(),
        };
        let mut odf_path = pkcs15::APP_DF.to_vec();
        odf_path.extend_from_slice(&pkcs15::ODF);
        let odf =
            pkcs15::parse_odf(&self.read_file(&odf_path, "PKCS#15 ODF")?).map_err(malformed)?;
        let key = pkcs15::parse_prkdf(&self.read_file(&odf.private_keys, "PKCS#15 PrKDF")?)
            .map_err(malformed)?;
        let certificate =
            pkcs15::parse_cdf(&self.read_file(&odf.certificates, "PKCS#15 CDF")?, &key.id)
                .map_err(malformed)?;
        let pin = pkcs15::parse_aodf(
            &self.read_file(&odf.auth_objects, "PKCS#15 AODF")?,
            key.auth_id.as_deref(),
        )
        .map_err(malformed)?;
        self.layout = Some(Layout {
            auth_key: key,
            certificate,
            pin,
        });
        Ok(())
    }

    fn layout(&self) -> Result<&Layout, CardError> {
        self.layout.as_ref().ok_or_else(|| CardError::Malformed {
            what: "card directory (PKCS#15)",
            detail: "not read".into(),
        })
    }

    /// The holder's authentication certificate, DER.
    pub fn read_auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        let path = self.layout()?.certificate.clone();
        self.read_file(&path, "authentication certificate")
    }

    /// Reads the PIN try counter without presenting a PIN.
    pub fn pin_tries(&mut self) -> Result<PinTries, CardError> {
        match self.profile {
            Profile::Cps3 => {
                let pin_ref = self.layout()?.pin.reference;
                self.select_path(&EF_SN[..2], "master file")?;
                let query = [
                    0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, pin_ref, 0x02, 0xA0, 0x80,
                ];
                let data = self
                    .exchange(&Command::new(0x00, 0xCB, 0x3F, 0xFF, &query, Some(0)))?
                    .into_data("PIN counter")?;
                let value = |tag: u8| -> Result<u8, CardError> {
                    tlv::find(&data, &[tag])
                        .and_then(|v| v.first().copied())
                        .ok_or_else(|| CardError::Malformed {
                            what: "PIN counter",
                            detail: format!("no tag {tag:02X}"),
                        })
                };
                Ok(PinTries {
                    left: value(0x9B)?,
                    max: value(0x9A)?,
                })
            }
            Profile::Cps4 => {
                // VERIFY without data: 63Cx (x tries left), 9000 when
                // already verified, 6983 when blocked.
                let pin_ref = self.layout()?.pin.reference;
                let r = self.exchange(&Command::new(0x01, 0x20, 0x00, pin_ref, &[], None))?;
                let left = match r.sw {
                    0x9000 => 3,
                    0x6983 => 0,
                    sw if sw & 0xFFF0 == 0x63C0 => (sw & 0x0F) as u8,
                    sw => {
                        return Err(CardError::Status {
                            what: "PIN counter",
                            sw,
                        });
                    }
                };
                Ok(PinTries { left, max: 3 })
            }
        }
    }

    /// The VERIFY command for `pin` (also the template a PIN pad fills),
    /// with the PIN reference, block length and padding the card declares.
    pub fn verify_command(&self, pin: &Pin) -> Result<Command, CardError> {
        let info = self.layout()?.pin;
        let block = pin.block(info.stored_length, info.pad)?;
        Ok(Command::new(
            self.profile.cla(),
            0x20,
            0x00,
            info.reference,
            &block,
            None,
        ))
    }

    /// The VERIFY command a PIN pad completes: the block holds only
    /// padding, the reader writes the typed digits at its start.
    pub fn pinpad_template(&self) -> Result<(Command, usize), CardError> {
        let info = self.layout()?.pin;
        let block = vec![info.pad; info.stored_length];
        Ok((
            Command::new(self.profile.cla(), 0x20, 0x00, info.reference, &block, None),
            info.stored_length,
        ))
    }

    /// Presents the PIN once. A wrong PIN is reported with the tries left;
    /// it is never presented again from here.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), CardError> {
        let command = self.verify_command(pin)?;
        let response = self.exchange(&command)?;
        verify_result(response.sw)
    }

    /// Signs a TLS handshake `message` with the authentication key.
    pub fn sign(&mut self, padding: Padding, message: &[u8]) -> Result<Vec<u8>, CardError> {
        let key = self.layout()?.auth_key.reference;
        let hash = ring::digest::digest(&ring::digest::SHA256, message);
        let mut digest_info = SHA256_DIGEST_INFO.to_vec();
        digest_info.extend_from_slice(hash.as_ref());
        let signature = match (self.profile, padding) {
            (Profile::Cps3, Padding::Pkcs1Sha256) => {
                let mse = [0x80, 0x01, CPS3_ALG_PKCS1, 0x84, 0x01, key];
                self.exchange(&Command::new(0x00, 0x22, 0x41, 0xA4, &mse, None))?
                    .into_data("signing setup")
                    .map_err(not_unlocked)?;
                self.exchange(&Command::new(0x00, 0x88, 0x00, 0x00, &digest_info, Some(0)))?
                    .into_data("signature")
                    .map_err(not_unlocked)?
            }
            (Profile::Cps3, Padding::PssSha256) => {
                return Err(CardError::Malformed {
                    what: "signature",
                    detail: "a CPS3 card cannot sign RSA-PSS".into(),
                });
            }
            (Profile::Cps4, Padding::PssSha256) => {
                let mse = [0x91, 0x02, CPS4_ALG_PSS_SHA256, key | 0x80];
                self.exchange(&Command::new(0x01, 0x22, 0x81, 0xB6, &mse, None))?
                    .into_data("signing setup")
                    .map_err(not_unlocked)?;
                self.exchange(&Command::new(
                    0x01,
                    0x2A,
                    0x9E,
                    0x9A,
                    hash.as_ref(),
                    Some(0),
                ))?
                .into_data("signature")
                .map_err(not_unlocked)?
            }
            (Profile::Cps4, Padding::Pkcs1Sha256) => {
                // ChipDoc has no INTERNAL AUTHENTICATE: the padded block
                // goes through a raw RSA private operation (PSO DECIPHER).
                let mse = [0x83, 0x01, key];
                self.exchange(&Command::new(0x01, 0x22, 0x41, 0xB8, &mse, None))?
                    .into_data("signing setup")
                    .map_err(not_unlocked)?;
                let block = pkcs1_type1_block(&digest_info, 256);
                let (first, last) = block.split_at(128);
                self.exchange(&Command::new(0x11, 0x2A, 0x80, 0x86, first, None))?
                    .into_data("signature")
                    .map_err(not_unlocked)?;
                self.exchange(&Command::new(0x01, 0x2A, 0x80, 0x86, last, Some(0)))?
                    .into_data("signature")
                    .map_err(not_unlocked)?
            }
        };
        if signature.len() != self.key_bytes {
            return Err(CardError::Malformed {
                what: "signature",
                detail: format!(
                    "{} bytes for a {}-byte key",
                    signature.len(),
                    self.key_bytes
                ),
            });
        }
        Ok(signature)
    }

    /// Selects a file by its path from the master file and returns its
    /// control parameters (FCP). CPS3 takes the path with `3F00` first
    /// (`P1=09`, as ANS's middleware sends it); CPS4 the ISO form, path from
    /// the MF without it (`P1=08`), which does not depend on the current
    /// directory.
    fn select_path(&mut self, path: &[u8], what: &'static str) -> Result<Vec<u8>, CardError> {
        let (p1, path) = match self.profile {
            Profile::Cps3 => (0x09, path),
            Profile::Cps4 => (0x08, path.strip_prefix(&[0x3F, 0x00]).unwrap_or(path)),
        };
        self.exchange(&Command::new(
            self.profile.cla(),
            0xA4,
            p1,
            0x04,
            path,
            Some(0),
        ))?
        .into_data(what)
    }

    /// Reads a whole transparent file: as many bytes as its FCP gives, or,
    /// without a size there, as its first DER header says.
    fn read_file(&mut self, path: &[u8], what: &'static str) -> Result<Vec<u8>, CardError> {
        let fcp = self.select_path(path, what)?;
        let chunk = self.profile.read_chunk();
        let mut content: Vec<u8> = Vec::new();
        let mut total: Option<usize> = file_size(&fcp);
        if total == Some(0) {
            return Ok(content);
        }
        loop {
            let offset = content.len();
            if offset > 0x7FFF {
                return Err(CardError::Malformed {
                    what,
                    detail: "file larger than 32 KiB".into(),
                });
            }
            let want = total.map_or(chunk, |t| (t - offset).min(chunk));
            let le = if want >= 256 { 0 } else { want as u8 };
            let cla = self.profile.cla();
            let r = self.exchange(&Command::new(
                cla,
                0xB0,
                (offset >> 8) as u8,
                offset as u8,
                &[],
                Some(le),
            ))?;
            // 6282: end of file reached before Le bytes (data is valid).
            if !(r.is_ok() || r.sw == 0x6282) {
                return Err(CardError::Status { what, sw: r.sw });
            }
            if r.data.is_empty() {
                break;
            }
            content.extend_from_slice(&r.data);
            if total.is_none() {
                total = tlv::der_total_len(&content[..content.len().min(4)]);
            }
            match total {
                Some(t) if content.len() >= t => {
                    content.truncate(t);
                    break;
                }
                _ if r.sw == 0x6282 || r.data.len() < want => break,
                _ => {}
            }
        }
        match total {
            Some(t) if content.len() == t => Ok(content),
            _ => Err(CardError::Malformed {
                what,
                detail: format!("file content incomplete ({} bytes)", content.len()),
            }),
        }
    }

    /// Sends a command; collects `61xx` continuations with GET RESPONSE
    /// and repeats once with the right Le on `6Cxx`.
    fn exchange(&mut self, command: &Command) -> Result<Response, CardError> {
        let mut response = Response::parse(&self.transport.transmit(command.bytes())?)?;
        // 6Cxx: "repeat with Le = xx". Only meaningful when the command
        // has an Le: otherwise its last byte is data (maybe the PIN block).
        if response.sw & 0xFF00 == 0x6C00 && command.has_le() {
            let mut again = command.bytes().to_vec();
            if let Some(le) = again.last_mut() {
                *le = (response.sw & 0xFF) as u8;
            }
            response = Response::parse(&self.transport.transmit(&again)?)?;
            again.zeroize();
        }
        let mut data = std::mem::take(&mut response.data);
        let mut rounds = 0;
        while response.sw & 0xFF00 == 0x6100 {
            rounds += 1;
            if rounds > 64 {
                return Err(CardError::Malformed {
                    what: "GET RESPONSE",
                    detail: "endless continuation".into(),
                });
            }
            let get = Command::new(
                self.profile.cla(),
                0xC0,
                0x00,
                0x00,
                &[],
                Some((response.sw & 0xFF) as u8),
            );
            response = Response::parse(&self.transport.transmit(get.bytes())?)?;
            data.extend_from_slice(&response.data);
        }
        Ok(Response {
            data,
            sw: response.sw,
        })
    }
}

/// Size of a transparent file from its FCP (tag 80, or 81 with
/// structural information).
fn file_size(fcp: &[u8]) -> Option<usize> {
    let bytes = tlv::find(fcp, &[0x80]).or_else(|| tlv::find(fcp, &[0x81]))?;
    if bytes.is_empty() || bytes.len() > 3 {
        return None;
    }
    Some(bytes.iter().fold(0usize, |n, b| (n << 8) | *b as usize))
}

/// Meaning of the status word after VERIFY.
pub fn verify_result(sw: u16) -> Result<(), CardError> {
    match sw {
        0x9000 => Ok(()),
        0x6983 | 0x63C0 => Err(CardError::Blocked),
        sw if sw & 0xFFF0 == 0x63C0 => Err(CardError::WrongPin {
            tries_left: (sw & 0x0F) as u8,
        }),
        0x6400 | 0x6401 => Err(CardError::PinPadCancelled),
        sw => Err(CardError::Status {
            what: "PIN verification",
            sw,
        }),
    }
}

fn not_unlocked(e: CardError) -> CardError {
    match e {
        CardError::Status { sw: 0x6982, .. } => CardError::NotUnlocked,
        e => e,
    }
}

/// EMSA-PKCS1-v1_5 block: `00 01 FF..FF 00 DigestInfo`.
fn pkcs1_type1_block(digest_info: &[u8], len: usize) -> Vec<u8> {
    let mut block = vec![0xFF; len];
    block[0] = 0x00;
    block[1] = 0x01;
    let start = len - digest_info.len();
    block[start - 1] = 0x00;
    block[start..].copy_from_slice(digest_info);
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Plays a script: each command must match, then gets its answer.
    struct Script {
        steps: VecDeque<(Vec<u8>, Vec<u8>)>,
        sent: Vec<Vec<u8>>,
    }

    impl Script {
        fn new(steps: &[(&[u8], &[u8])]) -> Script {
            Script {
                steps: steps
                    .iter()
                    .map(|(c, r)| (c.to_vec(), r.to_vec()))
                    .collect(),
                sent: Vec::new(),
            }
        }
    }

    impl Transport for &mut Script {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
            self.sent.push(command.to_vec());
            let (expected, answer) = self
                .steps
                .pop_front()
                .ok_or_else(|| CardError::Reader(format!("unexpected {command:02X?}")))?;
            assert_eq!(command, &expected[..], "command out of script");
            Ok(answer)
        }
    }

    const CPS3_ATR_SAMPLE: [u8; 17] = [
        0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00,
        0x90, 0x00,
    ];
    const SELECT_SN: &[u8] = &[0x00, 0xA4, 0x09, 0x04, 0x04, 0x3F, 0x00, 0xD0, 0x03, 0x00];
    /// FCP of a 12-byte file.
    const FCP_12: &[u8] = &[0x62, 0x04, 0x80, 0x02, 0x00, 0x0C, 0x90, 0x00];
    const READ_SN: &[u8] = &[0x00, 0xB0, 0x00, 0x00, 0x0C];
    const SELECT_MF: &[u8] = &[0x00, 0xA4, 0x09, 0x04, 0x02, 0x3F, 0x00, 0x00];
    const SN: &[u8] = &[
        0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01, 0x99, 0x21, 0x38, 0x45, 0x0F, 0x90, 0x00,
    ];

    #[test]
    fn recognises_atrs() {
        assert_eq!(Profile::from_atr(&CPS3_ATR_SAMPLE), Some(Profile::Cps3));
        let mut other_batch = CPS3_ATR_SAMPLE;
        other_batch[1] = 0xAD;
        assert_eq!(Profile::from_atr(&other_batch), Some(Profile::Cps3));
        assert_eq!(Profile::from_atr(CPS4_ATRS[0]), Some(Profile::Cps4));
        assert_eq!(
            Profile::from_atr(&[0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F]),
            None
        );
    }

    #[test]
    fn opens_a_cps3_and_reads_its_serial() {
        let mut script = Script::new(&[(SELECT_SN, FCP_12), (READ_SN, SN)]);
        let (card, serial) = CpsCard::open(&mut script, &CPS3_ATR_SAMPLE).unwrap();
        assert_eq!(card.profile(), Profile::Cps3);
        assert_eq!(serial, "992138450F");
    }

    #[test]
    fn a_card_without_cps_files_is_not_cps() {
        let mut script = Script::new(&[(SELECT_SN, &[0x6A, 0x82])]);
        assert!(matches!(
            CpsCard::open(&mut script, &CPS3_ATR_SAMPLE),
            Err(CardError::NotCps)
        ));
        let mut wrong_issuer = SN.to_vec();
        wrong_issuer[3] = 0x26;
        let mut script = Script::new(&[(SELECT_SN, FCP_12), (READ_SN, &wrong_issuer)]);
        assert!(matches!(
            CpsCard::open(&mut script, &CPS3_ATR_SAMPLE),
            Err(CardError::NotCps)
        ));
        let mut script = Script::new(&[]);
        assert!(matches!(
            CpsCard::open(&mut script, &[0x3B, 0x00]),
            Err(CardError::NotCps)
        ));
    }

    #[test]
    fn truncated_answers_are_errors() {
        let mut script = Script::new(&[(SELECT_SN, &[0x90])]);
        assert!(matches!(
            CpsCard::open(&mut script, &CPS3_ATR_SAMPLE),
            Err(CardError::Truncated { len: 1 })
        ));
        let mut script = Script::new(&[(SELECT_SN, FCP_12), (READ_SN, &[0x5A, 0x0A, 0x90, 0x00])]);
        assert!(matches!(
            CpsCard::open(&mut script, &CPS3_ATR_SAMPLE),
            Err(CardError::Malformed { .. })
        ));
    }

    fn opened(script: &mut Script) -> CpsCard<&mut Script> {
        let mut steps = VecDeque::from([
            (SELECT_SN.to_vec(), FCP_12.to_vec()),
            (READ_SN.to_vec(), SN.to_vec()),
        ]);
        steps.extend(script.steps.drain(..));
        script.steps = steps;
        let mut card = CpsCard::open(script, &CPS3_ATR_SAMPLE).unwrap().0;
        card.layout = Some(Layout {
            auth_key: pkcs15::KeyInfo {
                id: vec![1],
                auth_id: Some(vec![1]),
                reference: 0x82,
            },
            certificate: vec![0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01],
            pin: pkcs15::PinInfo {
                reference: 1,
                pad: 0xFF,
                stored_length: 8,
            },
        });
        card
    }

    /// `(SELECT with FCP, READ BINARY)` steps serving `content` at `path`.
    fn file_steps(path: &[u8], content: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut select = vec![0x00, 0xA4, 0x09, 0x04, path.len() as u8];
        select.extend_from_slice(path);
        select.push(0x00);
        let size = content.len() as u16;
        let mut fcp = vec![0x62, 0x04, 0x80, 0x02];
        fcp.extend_from_slice(&size.to_be_bytes());
        fcp.extend_from_slice(&[0x90, 0x00]);
        let mut answer = content.to_vec();
        answer.extend_from_slice(&[0x90, 0x00]);
        vec![
            (select, fcp),
            (vec![0x00, 0xB0, 0x00, 0x00, content.len() as u8], answer),
        ]
    }

    #[test]
    fn reads_the_pkcs15_layout() {
        use crate::card::pkcs15::tests::{aodf, cdf, odf, prkdf};
        let app = |fid: [u8; 2]| [0x3F, 0x00, 0x00, 0x01, fid[0], fid[1]];
        let mut steps = vec![
            (SELECT_SN.to_vec(), FCP_12.to_vec()),
            (READ_SN.to_vec(), SN.to_vec()),
        ];
        steps.extend(file_steps(&app([0x50, 0x31]), &odf()));
        steps.extend(file_steps(&app([0x50, 0x01]), &prkdf(0x82)));
        steps.extend(file_steps(&app([0x50, 0x02]), &cdf()));
        steps.extend(file_steps(&app([0x50, 0x03]), &aodf()));
        let mut script = Script {
            steps: steps.into(),
            sent: Vec::new(),
        };
        let (mut card, _) = CpsCard::open(&mut script, &CPS3_ATR_SAMPLE).unwrap();
        card.load_layout().unwrap();
        let layout = card.layout().unwrap();
        assert_eq!(layout.auth_key.reference, 0x82);
        assert_eq!(layout.certificate, app([0xC0, 0x01]).to_vec());
        assert_eq!(layout.pin.reference, 1);
    }

    #[test]
    fn a_card_without_pkcs15_is_an_error() {
        let mut script = Script::new(&[
            (SELECT_SN, FCP_12),
            (READ_SN, SN),
            (
                &[
                    0x00, 0xA4, 0x09, 0x04, 0x06, 0x3F, 0x00, 0x00, 0x01, 0x50, 0x31, 0x00,
                ],
                &[0x6A, 0x82],
            ),
        ]);
        let (mut card, _) = CpsCard::open(&mut script, &CPS3_ATR_SAMPLE).unwrap();
        assert!(matches!(
            card.load_layout(),
            Err(CardError::Status { sw: 0x6A82, .. })
        ));
    }

    #[test]
    fn reads_pin_tries() {
        let mut script = Script::new(&[
            (SELECT_MF, &[0x90, 0x00]),
            (
                &[
                    0x00, 0xCB, 0x3F, 0xFF, 0x0A, 0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x01, 0x02,
                    0xA0, 0x80, 0x00,
                ],
                &[
                    0x70, 0x0C, 0xBF, 0x81, 0x01, 0x08, 0xA0, 0x06, 0x9A, 0x01, 0x03, 0x9B, 0x01,
                    0x02, 0x90, 0x00,
                ][..],
            ),
        ]);
        let mut card = opened(&mut script);
        assert_eq!(card.pin_tries().unwrap(), PinTries { left: 2, max: 3 });
    }

    #[test]
    fn pin_tries_answer_without_counter_is_malformed() {
        let mut script = Script::new(&[
            (SELECT_MF, &[0x90, 0x00]),
            (
                &[
                    0x00, 0xCB, 0x3F, 0xFF, 0x0A, 0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x01, 0x02,
                    0xA0, 0x80, 0x00,
                ],
                &[0x70, 0x02, 0xA0, 0x00, 0x90, 0x00][..],
            ),
        ]);
        let mut card = opened(&mut script);
        assert!(matches!(card.pin_tries(), Err(CardError::Malformed { .. })));
    }

    #[test]
    fn verify_maps_status_words() {
        let verify: &[u8] = &[
            0x00, 0x20, 0x00, 0x01, 0x08, b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let pin = || Pin::new(Zeroizing::new("1234".into())).unwrap();
        for (sw, expected) in [
            ([0x90, 0x00], Ok(())),
            ([0x63, 0xC2], Err(CardError::WrongPin { tries_left: 2 })),
            ([0x69, 0x83], Err(CardError::Blocked)),
        ] {
            let mut script = Script::new(&[(verify, &sw)]);
            let mut card = opened(&mut script);
            assert_eq!(card.verify_pin(&pin()), expected);
        }
    }

    #[test]
    fn pin_format_is_checked() {
        for bad in ["", "123", "12a4", "123456789"] {
            assert!(Pin::new(Zeroizing::new(bad.into())).is_err(), "{bad}");
        }
        assert!(Pin::new(Zeroizing::new(" 1234\n".into())).is_ok());
        assert_eq!(
            format!("{:?}", Pin::new(Zeroizing::new("1234".into())).unwrap()),
            "Pin(****)"
        );
    }

    #[test]
    fn signature_is_collected_with_get_response() {
        let message = b"handshake";
        let hash = ring::digest::digest(&ring::digest::SHA256, message);
        let mut auth = vec![0x00, 0x88, 0x00, 0x00, 0x33];
        auth.extend_from_slice(&SHA256_DIGEST_INFO);
        auth.extend_from_slice(hash.as_ref());
        auth.push(0x00);
        let mut first = vec![0xAB; 0xE7];
        first.extend_from_slice(&[0x61, 0x19]);
        let mut last = vec![0xCD; 0x19];
        last.extend_from_slice(&[0x90, 0x00]);
        let mut script = Script::new(&[
            (
                &[
                    0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
                ],
                &[0x90, 0x00],
            ),
            (&auth, &[0x61, 0x00]),
            (&[0x00, 0xC0, 0x00, 0x00, 0x00], &first),
            (&[0x00, 0xC0, 0x00, 0x00, 0x19], &last),
        ]);
        let mut card = opened(&mut script);
        let sig = card.sign(Padding::Pkcs1Sha256, message).unwrap();
        assert_eq!(sig.len(), 256);
        assert_eq!(sig[0], 0xAB);
        assert_eq!(sig[255], 0xCD);
    }

    #[test]
    fn signing_while_locked_says_so() {
        let mut script = Script::new(&[(
            &[
                0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
            ],
            &[0x69, 0x82],
        )]);
        let mut card = opened(&mut script);
        assert_eq!(
            card.sign(Padding::Pkcs1Sha256, b"x"),
            Err(CardError::NotUnlocked)
        );
        let mut script = Script::new(&[]);
        let mut card = opened(&mut script);
        assert!(card.sign(Padding::PssSha256, b"x").is_err());
    }

    #[test]
    fn short_signature_is_refused() {
        let hash = ring::digest::digest(&ring::digest::SHA256, b"m");
        let mut auth = vec![0x00, 0x88, 0x00, 0x00, 0x33];
        auth.extend_from_slice(&SHA256_DIGEST_INFO);
        auth.extend_from_slice(hash.as_ref());
        auth.push(0x00);
        let mut short = vec![0xAB; 0xE7];
        short.extend_from_slice(&[0x90, 0x00]);
        let mut script = Script::new(&[
            (
                &[
                    0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
                ],
                &[0x90, 0x00],
            ),
            (&auth, &short),
        ]);
        let mut card = opened(&mut script);
        assert!(matches!(
            card.sign(Padding::Pkcs1Sha256, b"m"),
            Err(CardError::Malformed {
                what: "signature",
                ..
            })
        ));
    }

    #[test]
    fn wrong_le_answer_is_not_replayed_on_a_command_without_le() {
        let verify: &[u8] = &[
            0x00, 0x20, 0x00, 0x01, 0x08, b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let mut script = Script::new(&[(verify, &[0x6C, 0x10])]);
        let mut card = opened(&mut script);
        let pin = Pin::new(Zeroizing::new("1234".into())).unwrap();
        assert!(matches!(
            card.verify_pin(&pin),
            Err(CardError::Status { sw: 0x6C10, .. })
        ));
        assert!(script.steps.is_empty());
    }

    #[test]
    fn pkcs1_block_layout() {
        let block = pkcs1_type1_block(&[1, 2, 3], 16);
        assert_eq!(
            block,
            vec![
                0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 2, 3
            ]
        );
    }
}
