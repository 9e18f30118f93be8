//! The simulated CPS card: its answer-to-reset, file system, PIN and
//! security environment, and the dispatch of the commands the gateway's
//! driver (`gateway/src/card/cps.rs`) sends.
//!
//! Only that command set is played, the way the real cards answer it;
//! anything else gets the status word a card gives to an instruction or
//! parameter it does not know, so a driver change that sends something
//! new shows up as a test failure instead of passing by luck.

use crate::apdu::{Command, Reply, simple_tlvs, sw};
use crate::crypto::{CardKey, RawError};
use crate::pkcs15;
use crate::state::TriesStore;

/// Which card the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// IAS-ECC, T=0, commands on the basic channel.
    Cps3,
    /// NXP ChipDoc: the CPS applet on logical channel 1.
    Cps4,
    /// Some other card (a contactless storage card's ATR) with no CPS files.
    Unknown,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Cps3 => "cps3",
            Profile::Cps4 => "cps4",
            Profile::Unknown => "unknown",
        }
    }

    pub fn atr(self) -> &'static [u8] {
        match self {
            Profile::Cps3 => &CPS3_ATR,
            Profile::Cps4 => &CPS4_ATR,
            Profile::Unknown => &UNKNOWN_ATR,
        }
    }

    /// Whether `raw` asks for a signature (the sign delay applies to it).
    pub fn is_signature_command(self, raw: &[u8]) -> bool {
        match (self, raw) {
            (Profile::Cps3, [0x00, 0x88, ..]) => true,
            (Profile::Cps4, [0x01, 0x2A, 0x9E, 0x9A, ..]) => true,
            // Only the last command of a PSO DECIPHER chain computes.
            (Profile::Cps4, [0x01, 0x2A, 0x80, 0x86, ..]) => true,
            _ => false,
        }
    }
}

/// Answers for tests of the driver's error paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Behave like a sound card.
    None,
    /// READ BINARY answers a single byte (no room for a status word).
    Truncated,
    /// Every APDU is answered 6F00.
    BadSw,
    /// The certificate file holds bytes that are not a certificate.
    GarbageCert,
    /// No PKCS#15 directory: EF.ODF (3F00/0001/5031) is absent.
    #[value(name = "no-pkcs15")]
    NoPkcs15,
}

const CPS3_ATR: [u8; 17] = [
    0x3B, 0xAC, 0x00, 0x40, 0x2A, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x00, 0x03, 0x10, 0x00, 0x90,
    0x00,
];
const CPS4_ATR: [u8; 17] = [
    0x3B, 0x9B, 0x18, 0x80, 0x01, 0x00, 0x12, 0x25, 0x00, 0x64, 0x80, 0x04, 0x01, 0x00, 0x00, 0x90,
    0x44,
];
/// A PC/SC contactless storage card (PC/SC part 3 ATR).
const UNKNOWN_ATR: [u8; 20] = [
    0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x6A,
];

/// The ChipDoc CPS applet.
const CPS4_APPLET: [u8; 8] = [0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00];
/// ANS's issuer number, bytes 2..7 of EF.SN.
const SN_ISSUER: [u8; 5] = [0x80, 0x25, 0x00, 0x00, 0x01];
const PIN_REF: u8 = 0x01;
const PIN_TRIES: u8 = 3;
/// VERIFY takes the PIN as ASCII digits padded with FF to 8 bytes.
const PIN_BLOCK_LEN: usize = 8;
const PIN_PAD: u8 = 0xFF;
/// CPS3: key 82 (IAS-ECC local object 2), algorithm 02 (PKCS#1 v1.5,
/// DigestInfo given).
const CPS3_AUTH_KEY: u8 = 0x82;
const CPS3_ALG_PKCS1: u8 = 0x02;
/// CPS4: key 20; in the DST its reference carries bit 8 ("sign a hash").
const CPS4_AUTH_KEY: u8 = 0x20;
/// The non-repudiation keys, only announced in the PrKDF (the driver never
/// uses them).
const CPS3_SIGN_KEY: u8 = 0x81;
const CPS4_SIGN_KEY: u8 = 0x21;
const CPS4_ALG_PSS_SHA256: u8 = 0x2C;
/// The longest answer a CPS3 gives in one response (its T=0 buffer).
const CPS3_MAX_ANSWER: usize = 0xE7;
/// Longest chained PSO DECIPHER input accepted.
const MAX_CHAIN: usize = 1024;

/// The files of the card, as the driver reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    /// 3F00
    Mf,
    /// 3F00/0001: the IAS application directory.
    AppDf,
    /// 3F00/D003: EF.SN, the card's serial number.
    SerialNumber,
    /// 3F00/0001/C001: the holder's authentication certificate.
    AuthCertificate,
    /// 3F00/0001/5031: EF.ODF, the PKCS#15 object directory.
    Odf,
    /// 3F00/0001/5001: EF.PrKDF, the private keys.
    PrKdf,
    /// 3F00/0001/5002: EF.CDF, the certificates.
    Cdf,
    /// 3F00/0001/5003: EF.AODF, the PIN.
    Aodf,
}

impl File {
    fn fid(self) -> [u8; 2] {
        match self {
            File::Mf => [0x3F, 0x00],
            File::AppDf => [0x00, 0x01],
            File::SerialNumber => [0xD0, 0x03],
            File::AuthCertificate => [0xC0, 0x01],
            File::Odf => pkcs15::ODF_FID,
            File::PrKdf => pkcs15::PRKDF_FID,
            File::Cdf => pkcs15::CDF_FID,
            File::Aodf => pkcs15::AODF_FID,
        }
    }

    /// 3F00/0001/xxxx for a file of the application DF.
    fn absolute_path(self) -> [u8; 6] {
        let [mf, app, ef] = [File::Mf.fid(), File::AppDf.fid(), self.fid()];
        [mf[0], mf[1], app[0], app[1], ef[0], ef[1]]
    }

    /// The DF a file is in (the MF for itself).
    fn parent(self) -> File {
        match self {
            File::Mf | File::AppDf | File::SerialNumber => File::Mf,
            File::AuthCertificate | File::Odf | File::PrKdf | File::Cdf | File::Aodf => File::AppDf,
        }
    }

    fn is_df(self) -> bool {
        matches!(self, File::Mf | File::AppDf)
    }

    fn child(self, fid: [u8; 2]) -> Option<File> {
        let children: &[File] = match self {
            File::Mf => &[File::AppDf, File::SerialNumber],
            File::AppDf => &[
                File::AuthCertificate,
                File::Odf,
                File::PrKdf,
                File::Cdf,
                File::Aodf,
            ],
            _ => &[],
        };
        children.iter().copied().find(|f| f.fid() == fid)
    }

    /// Follows a path of file identifiers from the MF; a leading 3F00
    /// names the MF itself.
    fn resolve(path: &[u8]) -> Option<File> {
        if path.is_empty() || !path.len().is_multiple_of(2) {
            return None;
        }
        let mut fids = path.chunks_exact(2).map(|c| [c[0], c[1]]).peekable();
        if fids.peek() == Some(&File::Mf.fid()) {
            fids.next();
        }
        fids.try_fold(File::Mf, |dir, fid| dir.child(fid))
    }
}

/// What the last MANAGE SECURITY ENVIRONMENT prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Environment {
    /// CPS3 `41 A4`: INTERNAL AUTHENTICATE, PKCS#1 v1.5.
    InternalAuthenticate,
    /// CPS4 `81 B6`: PSO COMPUTE DIGITAL SIGNATURE, RSA-PSS SHA-256.
    PssSignature,
    /// CPS4 `41 B8`: PSO DECIPHER, the raw private operation.
    Decipher,
}

/// What power-off, reset and removal wipe: all that a real card keeps in
/// RAM.
#[derive(Debug, Default)]
struct Session {
    verified: bool,
    /// CPS4: the applet has been selected on channel 1.
    applet_selected: bool,
    /// `None` stands for the MF (selected implicitly at reset).
    current: Option<File>,
    environment: Option<Environment>,
    /// Answer bytes waiting for GET RESPONSE.
    pending: Vec<u8>,
    /// PSO DECIPHER data received so far in a command chain.
    chain: Option<Vec<u8>>,
}

/// Everything fixed when the simulator starts.
pub struct CardConfig {
    pub profile: Profile,
    pub fault: Fault,
    /// The PIN as typed (ASCII digits).
    pub pin: Vec<u8>,
    pub serial: [u8; 5],
    /// The DER authentication certificate.
    pub certificate: Vec<u8>,
    /// Required for the CPS profiles.
    pub key: Option<CardKey>,
}

/// Counters the control socket reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub signatures: u64,
    pub apdus: u64,
    pub verify_attempts: u64,
}

pub struct Card {
    config: CardConfig,
    ef_sn: Vec<u8>,
    certificate: Vec<u8>,
    /// `None` under [`Fault::NoPkcs15`].
    odf: Option<Vec<u8>>,
    prkdf: Vec<u8>,
    cdf: Vec<u8>,
    aodf: Vec<u8>,
    tries_left: u8,
    store: Option<TriesStore>,
    counters: Counters,
    session: Session,
}

impl Card {
    /// `tries_left` is the stored counter (3 on a fresh card); `store`
    /// keeps it across restarts.
    pub fn new(config: CardConfig, tries_left: u8, store: Option<TriesStore>) -> Card {
        let mut ef_sn = vec![0x5A, 0x0A];
        ef_sn.extend_from_slice(&SN_ISSUER);
        ef_sn.extend_from_slice(&config.serial);
        let certificate = match config.fault {
            Fault::GarbageCert => garbage_certificate(),
            _ => config.certificate.clone(),
        };
        let (auth_key_ref, sign_key_ref) = match config.profile {
            Profile::Cps4 => (CPS4_AUTH_KEY, CPS4_SIGN_KEY),
            Profile::Cps3 | Profile::Unknown => (CPS3_AUTH_KEY, CPS3_SIGN_KEY),
        };
        let modulus_bits = config
            .key
            .as_ref()
            .map_or(2048, |key| u32::try_from(key.size() * 8).unwrap_or(2048));
        let files = pkcs15::build(&pkcs15::Params {
            auth_key_ref,
            sign_key_ref,
            modulus_bits,
            certificate_path: File::AuthCertificate.absolute_path(),
            pin_ref: PIN_REF,
            pin_stored_length: PIN_BLOCK_LEN as u8,
            pin_pad: PIN_PAD,
        });
        let odf = (config.fault != Fault::NoPkcs15).then_some(files.odf);
        Card {
            config,
            ef_sn,
            certificate,
            odf,
            prkdf: files.prkdf,
            cdf: files.cdf,
            aodf: files.aodf,
            tries_left: tries_left.min(PIN_TRIES),
            store,
            counters: Counters::default(),
            session: Session::default(),
        }
    }

    pub fn profile(&self) -> Profile {
        self.config.profile
    }

    pub fn atr(&self) -> &'static [u8] {
        self.config.profile.atr()
    }

    /// Power off, reset or removal: the card forgets its PIN verification,
    /// selected file and security environment.
    pub fn power_cycle(&mut self) {
        self.session = Session::default();
    }

    pub fn verified(&self) -> bool {
        self.session.verified
    }

    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The serial number as the driver reports it (10 hex digits).
    pub fn serial_hex(&self) -> String {
        self.config
            .serial
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// Answers one command APDU (response data + SW1 SW2).
    pub fn process(&mut self, raw: &[u8]) -> Vec<u8> {
        self.counters.apdus += 1;
        if self.config.fault == Fault::BadSw {
            return Reply::status(sw::NO_PRECISE_DIAGNOSIS).into_bytes();
        }
        let cmd = match Command::parse(raw) {
            Ok(cmd) => cmd,
            Err(status) => return Reply::status(status).into_bytes(),
        };
        // Unread answer bytes are lost as soon as another command comes.
        let pending = std::mem::take(&mut self.session.pending);
        let reply = match self.config.profile {
            Profile::Unknown => match cmd.ins {
                0xA4 => Reply::status(sw::FILE_NOT_FOUND),
                _ => Reply::status(sw::INS_NOT_SUPPORTED),
            },
            Profile::Cps3 => self.cps3(&cmd, pending),
            Profile::Cps4 => self.cps4(&cmd, pending),
        };
        let mut bytes = reply.into_bytes();
        if self.config.fault == Fault::Truncated && cmd.ins == 0xB0 {
            bytes.truncate(1);
        }
        bytes
    }

    fn cps3(&mut self, cmd: &Command, pending: Vec<u8>) -> Reply {
        match cmd.cla {
            0x00 => {}
            0x10 => return Reply::status(sw::CHAINING_NOT_SUPPORTED),
            _ => return Reply::status(sw::CLA_NOT_SUPPORTED),
        }
        match cmd.ins {
            0xA4 => self.select(cmd),
            0xB0 => self.read_binary(cmd),
            0xCB => self.get_pin_data(cmd),
            0x20 => self.verify(cmd),
            0x22 => self.manage_security_environment(cmd),
            0x88 => self.internal_authenticate(cmd),
            0xC0 => self.get_response(cmd, pending),
            _ => Reply::status(sw::INS_NOT_SUPPORTED),
        }
    }

    fn cps4(&mut self, cmd: &Command, pending: Vec<u8>) -> Reply {
        // CLA 01: logical channel 1; 11: the same with "more commands of
        // this chain follow".
        let chained = match cmd.cla {
            0x01 => false,
            0x11 => true,
            _ => return Reply::status(sw::CLA_NOT_SUPPORTED),
        };
        let decipher = cmd.ins == 0x2A && cmd.p1p2() == 0x8086;
        if !decipher {
            // Any other command breaks a chain in progress.
            self.session.chain = None;
            if chained {
                return Reply::status(sw::CHAINING_NOT_SUPPORTED);
            }
        }
        let select_applet = cmd.ins == 0xA4 && cmd.p1 == 0x04;
        if !self.session.applet_selected && !select_applet {
            return Reply::status(sw::CHANNEL_NOT_SUPPORTED);
        }
        match cmd.ins {
            0xA4 => self.select(cmd),
            0xB0 => self.read_binary(cmd),
            0x20 => self.verify(cmd),
            0x22 => self.manage_security_environment(cmd),
            0x2A => match cmd.p1p2() {
                0x9E9A => self.pso_compute_signature(cmd),
                0x8086 => self.pso_decipher(cmd, chained),
                _ => Reply::status(sw::INCORRECT_P1P2),
            },
            0xC0 => self.get_response(cmd, pending),
            _ => Reply::status(sw::INS_NOT_SUPPORTED),
        }
    }

    /// SELECT: by AID (CPS4 applet), by path (P1 08 or 09), or by file
    /// identifier (P1 00). P2 0C answers no data, 00/04 the FCP.
    fn select(&mut self, cmd: &Command) -> Reply {
        let fcp = match cmd.p2 {
            0x0C => false,
            0x00 | 0x04 => true,
            _ => return Reply::status(sw::INCORRECT_P1P2),
        };
        let target = match cmd.p1 {
            0x04 => {
                if self.config.profile == Profile::Cps4 && cmd.data == CPS4_APPLET {
                    // A fresh applet session: MF current, no environment.
                    self.session.applet_selected = true;
                    self.session.current = None;
                    self.session.environment = None;
                    return Reply::ok(Vec::new());
                }
                return Reply::status(sw::FILE_NOT_FOUND);
            }
            // ISO 7816-4 reads P1=09 as "path from the current DF"; the
            // driver (like ANS's Cryptolib on CPS3) always gives the path
            // from the MF, with or without its 3F00, so it is resolved
            // from the MF, as is P1=08.
            0x08 | 0x09 => {
                if cmd.data.is_empty() || !cmd.data.len().is_multiple_of(2) {
                    return Reply::status(sw::WRONG_LENGTH);
                }
                File::resolve(cmd.data)
            }
            0x00 => match cmd.data {
                [] | [0x3F, 0x00] => Some(File::Mf),
                [a, b] => self.current_df().child([*a, *b]),
                _ => return Reply::status(sw::WRONG_LENGTH),
            },
            _ => return Reply::status(sw::INCORRECT_P1P2),
        };
        let Some(file) = target.filter(|f| self.exists(*f)) else {
            return Reply::status(sw::FILE_NOT_FOUND);
        };
        self.session.current = Some(file);
        if fcp {
            Reply::ok(self.fcp(file))
        } else {
            Reply::ok(Vec::new())
        }
    }

    fn current_df(&self) -> File {
        match self.session.current {
            None => File::Mf,
            Some(file) if file.is_df() => file,
            Some(ef) => ef.parent(),
        }
    }

    fn exists(&self, file: File) -> bool {
        file != File::Odf || self.odf.is_some()
    }

    /// The data of a transparent EF; `None` for DFs (and an absent ODF).
    fn content(&self, file: File) -> Option<&[u8]> {
        match file {
            File::SerialNumber => Some(&self.ef_sn),
            File::AuthCertificate => Some(&self.certificate),
            File::Odf => self.odf.as_deref(),
            File::PrKdf => Some(&self.prkdf),
            File::Cdf => Some(&self.cdf),
            File::Aodf => Some(&self.aodf),
            File::Mf | File::AppDf => None,
        }
    }

    /// A minimal FCP template: for an EF its size (tag 80: data bytes of
    /// the transparent EF), descriptor (82) and identifier (83); for a DF
    /// descriptor and identifier.
    fn fcp(&self, file: File) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(content) = self.content(file) {
            let size = u16::try_from(content.len()).unwrap_or(u16::MAX);
            body.extend_from_slice(&[0x80, 0x02]);
            body.extend_from_slice(&size.to_be_bytes());
        }
        body.extend_from_slice(&[0x82, 0x01, if file.is_df() { 0x38 } else { 0x01 }]);
        body.extend_from_slice(&[0x83, 0x02]);
        body.extend_from_slice(&file.fid());
        let mut fcp = vec![0x62, body.len() as u8];
        fcp.extend_from_slice(&body);
        fcp
    }

    /// READ BINARY from the current EF at offset P1P2 (15 bits).
    fn read_binary(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 & 0x80 != 0 {
            // Short EF identifiers are not simulated (nor used).
            return Reply::status(sw::FUNCTION_NOT_SUPPORTED);
        }
        let Some(le) = cmd.le else {
            return Reply::status(sw::WRONG_LENGTH);
        };
        let Some(file) = self.session.current else {
            return Reply::status(sw::INCOMPATIBLE_FILE);
        };
        let Some(content) = self.content(file) else {
            return Reply::status(sw::INCOMPATIBLE_FILE);
        };
        if self.config.profile == Profile::Cps3 && le > CPS3_MAX_ANSWER {
            return Reply::status(sw::wrong_le(CPS3_MAX_ANSWER));
        }
        let offset = usize::from(cmd.p1p2());
        if offset >= content.len() {
            return Reply::status(sw::WRONG_P1P2);
        }
        let end = content.len().min(offset + le);
        let data = content[offset..end].to_vec();
        if data.len() < le {
            Reply::with(data, sw::END_OF_FILE)
        } else {
            Reply::ok(data)
        }
    }

    /// CPS3 GET DATA on the PIN's security data object: `4D` extended
    /// header list asking for `70 / BF81<ref> / A0` (try limit 9A, tries
    /// left 9B).
    fn get_pin_data(&mut self, cmd: &Command) -> Reply {
        if cmd.p1p2() != 0x3FFF {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        let Some(at) = cmd.data.windows(2).position(|w| w == [0xBF, 0x81]) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        if cmd.data.first() != Some(&0x4D) {
            return Reply::status(sw::INCORRECT_DATA);
        }
        if cmd.data.get(at + 2) != Some(&PIN_REF) {
            return Reply::status(sw::REFERENCE_NOT_FOUND);
        }
        let counters = [0x9A, 0x01, PIN_TRIES, 0x9B, 0x01, self.tries_left];
        let mut a0 = vec![0xA0, counters.len() as u8];
        a0.extend_from_slice(&counters);
        let mut sdo = vec![0xBF, 0x81, PIN_REF, a0.len() as u8];
        sdo.extend_from_slice(&a0);
        let mut answer = vec![0x70, sdo.len() as u8];
        answer.extend_from_slice(&sdo);
        Reply::ok(answer)
    }

    /// VERIFY: with the 8-byte PIN block, or without data to read the
    /// counter.
    fn verify(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0x00 {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        if cmd.p2 != PIN_REF {
            return Reply::status(sw::REFERENCE_NOT_FOUND);
        }
        if !cmd.data.is_empty() {
            self.counters.verify_attempts += 1;
        }
        if self.tries_left == 0 {
            return Reply::status(sw::AUTH_BLOCKED);
        }
        if cmd.data.is_empty() {
            return if self.session.verified {
                Reply::status(sw::OK)
            } else {
                Reply::status(sw::tries_left(self.tries_left))
            };
        }
        if cmd.data.len() != PIN_BLOCK_LEN {
            return Reply::status(sw::WRONG_LENGTH);
        }
        if cmd.data == pin_block(&self.config.pin) {
            self.session.verified = true;
            self.set_tries(PIN_TRIES);
            Reply::status(sw::OK)
        } else {
            // A wrong presentation also cancels an earlier verification.
            self.session.verified = false;
            self.set_tries(self.tries_left - 1);
            Reply::status(sw::tries_left(self.tries_left))
        }
    }

    fn set_tries(&mut self, tries: u8) {
        if tries == self.tries_left {
            return;
        }
        self.tries_left = tries;
        if let Some(store) = &self.store
            && let Err(e) = store.save(tries)
        {
            eprintln!("card-sim: cannot save the PIN counter: {e}");
        }
    }

    /// MANAGE SECURITY ENVIRONMENT: SET, with exactly the templates the
    /// driver sends. A refused MSE leaves no environment.
    fn manage_security_environment(&mut self, cmd: &Command) -> Reply {
        self.session.environment = None;
        let Some(tlvs) = simple_tlvs(cmd.data) else {
            return Reply::status(sw::INCORRECT_DATA);
        };
        let get = |tag: u8| tlvs.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
        let environment = match (self.config.profile, cmd.p1, cmd.p2) {
            (Profile::Cps3, 0x41, 0xA4) => {
                if get(0x80) != Some(&[CPS3_ALG_PKCS1]) {
                    return Reply::status(sw::INCORRECT_DATA);
                }
                if get(0x84) != Some(&[CPS3_AUTH_KEY]) {
                    return Reply::status(sw::REFERENCE_NOT_FOUND);
                }
                Environment::InternalAuthenticate
            }
            // ChipDoc's digital signature template: tag 91 = algorithm,
            // key reference (as ANS's Cryptolib sends it, P1 81).
            (Profile::Cps4, 0x81, 0xB6) => match get(0x91) {
                Some(&[alg, key]) => {
                    if alg != CPS4_ALG_PSS_SHA256 {
                        return Reply::status(sw::INCORRECT_DATA);
                    }
                    if key != CPS4_AUTH_KEY | 0x80 {
                        return Reply::status(sw::REFERENCE_NOT_FOUND);
                    }
                    Environment::PssSignature
                }
                _ => return Reply::status(sw::INCORRECT_DATA),
            },
            (Profile::Cps4, 0x41, 0xB8) => {
                if get(0x83) != Some(&[CPS4_AUTH_KEY]) {
                    return Reply::status(sw::REFERENCE_NOT_FOUND);
                }
                Environment::Decipher
            }
            _ => return Reply::status(sw::FUNCTION_NOT_SUPPORTED),
        };
        self.session.environment = Some(environment);
        Reply::status(sw::OK)
    }

    /// CPS3 INTERNAL AUTHENTICATE: PKCS#1 v1.5 over the DigestInfo given.
    fn internal_authenticate(&mut self, cmd: &Command) -> Reply {
        if cmd.p1p2() != 0x0000 {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        let key = match may_use_key(
            &self.session,
            &self.config,
            Environment::InternalAuthenticate,
        ) {
            Ok(key) => key,
            Err(refusal) => return refusal,
        };
        if cmd.data.is_empty() || cmd.data.len() + 11 > key.size() {
            return Reply::status(sw::WRONG_LENGTH);
        }
        match key.sign_pkcs1(cmd.data) {
            Ok(signature) => self.signed(signature, cmd.le),
            Err(e) => {
                eprintln!("card-sim: {e:#}");
                Reply::status(sw::NO_PRECISE_DIAGNOSIS)
            }
        }
    }

    /// CPS4 PSO COMPUTE DIGITAL SIGNATURE: RSA-PSS over a SHA-256 hash.
    fn pso_compute_signature(&mut self, cmd: &Command) -> Reply {
        let key = match may_use_key(&self.session, &self.config, Environment::PssSignature) {
            Ok(key) => key,
            Err(refusal) => return refusal,
        };
        if cmd.data.len() != 32 {
            return Reply::status(sw::WRONG_LENGTH);
        }
        match key.sign_pss_sha256(cmd.data) {
            Ok(signature) => self.signed(signature, cmd.le),
            Err(e) => {
                eprintln!("card-sim: {e:#}");
                Reply::status(sw::NO_PRECISE_DIAGNOSIS)
            }
        }
    }

    /// CPS4 PSO DECIPHER, possibly chained: the raw RSA private operation
    /// on a block the host padded (the driver's PKCS#1 v1.5 signature).
    fn pso_decipher(&mut self, cmd: &Command, chained: bool) -> Reply {
        let key = match may_use_key(&self.session, &self.config, Environment::Decipher) {
            Ok(key) => key,
            Err(refusal) => {
                self.session.chain = None;
                return refusal;
            }
        };
        let k = key.size();
        let mut input = self.session.chain.take().unwrap_or_default();
        input.extend_from_slice(cmd.data);
        if input.len() > MAX_CHAIN {
            return Reply::status(sw::WRONG_LENGTH);
        }
        if chained {
            self.session.chain = Some(input);
            return Reply::status(sw::OK);
        }
        // ISO 7816-8 puts a padding indicator byte before the cryptogram;
        // ChipDoc takes the bare block (the driver and ANS's Cryptolib send
        // none). Accept both.
        let block = match input.len() {
            n if n == k => &input[..],
            n if n == k + 1 && matches!(input[0], 0x00 | 0x81) => &input[1..],
            _ => return Reply::status(sw::WRONG_LENGTH),
        };
        match key.raw_private(block) {
            Ok(result) => self.signed(result, cmd.le),
            Err(RawError::Length) => Reply::status(sw::WRONG_LENGTH),
            Err(RawError::OutOfRange) => Reply::status(sw::INCORRECT_DATA),
            Err(RawError::Internal) => Reply::status(sw::NO_PRECISE_DIAGNOSIS),
        }
    }

    /// Hands out a signature: a CPS3 (T=0) always announces it with
    /// `61 xx` for GET RESPONSE; a CPS4 answers directly when Le covers it.
    fn signed(&mut self, signature: Vec<u8>, le: Option<usize>) -> Reply {
        self.counters.signatures += 1;
        let direct =
            self.config.profile == Profile::Cps4 && le.is_some_and(|le| le >= signature.len());
        if direct {
            return Reply::ok(signature);
        }
        let status = sw::bytes_available(signature.len());
        self.session.pending = signature;
        Reply::status(status)
    }

    /// GET RESPONSE: the next bytes of the pending answer, at most
    /// `0xE7` at a time on a CPS3, then `61 xx` while bytes remain.
    fn get_response(&mut self, cmd: &Command, mut pending: Vec<u8>) -> Reply {
        if cmd.p1p2() != 0x0000 {
            return Reply::status(sw::INCORRECT_P1P2);
        }
        if pending.is_empty() {
            return Reply::status(sw::CONDITIONS_NOT_SATISFIED);
        }
        let Some(le) = cmd.le else {
            self.session.pending = pending;
            return Reply::status(sw::WRONG_LENGTH);
        };
        // Le = 00 means "all you have, up to 256"; another Le longer than
        // what is left is wrong.
        if le != 256 && le > pending.len() {
            let status = sw::wrong_le(pending.len());
            self.session.pending = pending;
            return Reply::status(status);
        }
        let max = match self.config.profile {
            Profile::Cps3 => CPS3_MAX_ANSWER,
            _ => 256,
        };
        let n = le.min(max).min(pending.len());
        let rest = pending.split_off(n);
        if rest.is_empty() {
            Reply::ok(pending)
        } else {
            let status = sw::bytes_available(rest.len());
            self.session.pending = rest;
            Reply::with(pending, status)
        }
    }
}

/// The checks before any private-key operation: the right environment
/// first (6985), then the PIN (6982). Only the configuration stays
/// borrowed, so the session can change while the key is in use.
fn may_use_key<'a>(
    session: &Session,
    config: &'a CardConfig,
    needed: Environment,
) -> Result<&'a CardKey, Reply> {
    if session.environment != Some(needed) {
        return Err(Reply::status(sw::CONDITIONS_NOT_SATISFIED));
    }
    if !session.verified {
        return Err(Reply::status(sw::SECURITY_NOT_SATISFIED));
    }
    config
        .key
        .as_ref()
        .ok_or_else(|| Reply::status(sw::REFERENCE_NOT_FOUND))
}

/// The 8-byte PIN block: ASCII digits padded with FF.
fn pin_block(pin: &[u8]) -> [u8; PIN_BLOCK_LEN] {
    let mut block = [PIN_PAD; PIN_BLOCK_LEN];
    let n = pin.len().min(PIN_BLOCK_LEN);
    block[..n].copy_from_slice(&pin[..n]);
    block
}

/// A file that announces a DER SEQUENCE of its own length but holds
/// text: the driver reads it whole, certificate parsing must fail.
fn garbage_certificate() -> Vec<u8> {
    let text = b"this is not a certificate: the card simulator serves garbage here. ".repeat(6);
    let mut file = vec![0x30, 0x82];
    file.extend_from_slice(&(text.len() as u16).to_be_bytes());
    file.extend_from_slice(&text);
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::load_certificate;
    use crate::crypto::tests::{TEST_CERT_PEM, key};
    use crate::pkcs15::tests::{Node, parse_der};
    use rsa::sha2::{Digest, Sha256};
    use rsa::{Pkcs1v15Sign, Pss};

    const SERIAL: [u8; 5] = [0x99, 0x21, 0x38, 0x45, 0x0F];
    const DIGEST_INFO_PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];

    fn card_with(profile: Profile, fault: Fault) -> Card {
        let config = CardConfig {
            profile,
            fault,
            pin: b"1234".to_vec(),
            serial: SERIAL,
            certificate: load_certificate(TEST_CERT_PEM).unwrap(),
            key: Some(key()),
        };
        Card::new(config, PIN_TRIES, None)
    }

    fn card(profile: Profile) -> Card {
        card_with(profile, Fault::None)
    }

    /// Sends `apdu`, returns (data, SW).
    fn send(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut r = card.process(apdu);
        assert!(r.len() >= 2, "short answer {r:02X?}");
        let sw = r.split_off(r.len() - 2);
        (r, u16::from_be_bytes([sw[0], sw[1]]))
    }

    fn sw_of(card: &mut Card, apdu: &[u8]) -> u16 {
        send(card, apdu).1
    }

    fn verify_apdu(cla: u8, pin: &[u8]) -> Vec<u8> {
        let mut apdu = vec![cla, 0x20, 0x00, 0x01, 0x08];
        apdu.extend_from_slice(&pin_block(pin));
        apdu
    }

    fn opened_cps4() -> Card {
        let mut c = card(Profile::Cps4);
        let select = [
            0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00,
        ];
        assert_eq!(sw_of(&mut c, &select), 0x9000);
        c
    }

    /// Reads a whole file the way the driver does: chunks, 6Cxx retry,
    /// stop on 6282 or a short answer.
    fn read_file(card: &mut Card, cla: u8, chunk: u8) -> Vec<u8> {
        let mut content = Vec::new();
        loop {
            let offset = content.len();
            let mut apdu = vec![cla, 0xB0, (offset >> 8) as u8, offset as u8, chunk];
            let (mut data, mut sw) = send(card, &apdu);
            if sw & 0xFF00 == 0x6C00 {
                apdu[4] = sw as u8;
                (data, sw) = send(card, &apdu);
            }
            if sw == 0x6B00 {
                break;
            }
            assert!(sw == 0x9000 || sw == 0x6282, "{sw:04X}");
            let short = data.is_empty() || sw == 0x6282;
            content.extend_from_slice(&data);
            if short {
                break;
            }
        }
        content
    }

    #[test]
    fn atrs() {
        assert_eq!(card(Profile::Cps3).atr(), &CPS3_ATR);
        assert_eq!(card(Profile::Cps4).atr()[16], 0x44);
        // CPS4 offers T=0 and T=1: the TCK makes the XOR of T0..TCK zero.
        assert_eq!(CPS4_ATR[1..].iter().fold(0, |a, b| a ^ b), 0);
        assert_eq!(UNKNOWN_ATR[1..].iter().fold(0, |a, b| a ^ b), 0);
    }

    #[test]
    fn cps3_serial_number_and_certificate() {
        let mut c = card(Profile::Cps3);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0xA4, 0x09, 0x0C, 0x04, 0x3F, 0x00, 0xD0, 0x03]
            ),
            0x9000
        );
        let (sn, sw) = send(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0xE7]);
        assert_eq!(sw, 0x6282);
        assert_eq!(
            sn,
            [
                0x5A, 0x0A, 0x80, 0x25, 0x00, 0x00, 0x01, 0x99, 0x21, 0x38, 0x45, 0x0F
            ]
        );
        let path = [
            0x00, 0xA4, 0x09, 0x0C, 0x06, 0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01,
        ];
        assert_eq!(sw_of(&mut c, &path), 0x9000);
        let cert = read_file(&mut c, 0x00, 0x00);
        assert_eq!(cert, load_certificate(TEST_CERT_PEM).unwrap());
        // The MF alone.
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x09, 0x0C, 0x02, 0x3F, 0x00]),
            0x9000
        );
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0x10]), 0x6981);
    }

    #[test]
    fn read_binary_edges() {
        let mut c = card(Profile::Cps3);
        // Nothing selected but the MF.
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0x10]), 0x6981);
        let path = [
            0x00, 0xA4, 0x09, 0x0C, 0x06, 0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01,
        ];
        assert_eq!(sw_of(&mut c, &path), 0x9000);
        let cert = load_certificate(TEST_CERT_PEM).unwrap();
        let len = cert.len();
        // Le = 00 (256) and E8 exceed a CPS3's buffer.
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0x00]), 0x6CE7);
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0xE8]), 0x6CE7);
        let (data, sw) = send(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0xE7]);
        assert_eq!((data.len(), sw), (0xE7, 0x9000));
        // Offset honoured.
        let (data, sw) = send(&mut c, &[0x00, 0xB0, 0x00, 0x05, 0x03]);
        assert_eq!((&data[..], sw), (&cert[5..8], 0x9000));
        // The last 2 bytes, asked with Le = 10.
        let off = len - 2;
        let (data, sw) = send(&mut c, &[0x00, 0xB0, (off >> 8) as u8, off as u8, 0x10]);
        assert_eq!((&data[..], sw), (&cert[off..], 0x6282));
        // At or past the end.
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xB0, (len >> 8) as u8, len as u8, 0x01]),
            0x6B00
        );
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x7F, 0xFF, 0x01]), 0x6B00);
        // No Le, short EF identifier.
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00]), 0x6700);
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x81, 0x00, 0x10]), 0x6A81);
    }

    #[test]
    fn selects() {
        let mut c = card(Profile::Cps3);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0xA4, 0x09, 0x0C, 0x04, 0x3F, 0x00, 0xD0, 0x04]
            ),
            0x6A82
        );
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x09, 0x0C, 0x03, 0x3F, 0x00, 0xD0]),
            0x6700
        );
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x09, 0x0D, 0x02, 0x3F, 0x00]),
            0x6A86
        );
        // From the MF without 3F00 (P1 08), then by FID under the current DF.
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x08, 0x0C, 0x02, 0x00, 0x01]),
            0x9000
        );
        let (fcp, sw) = send(&mut c, &[0x00, 0xA4, 0x00, 0x04, 0x02, 0xC0, 0x01, 0x00]);
        assert_eq!(sw, 0x9000);
        assert_eq!(&fcp[..2], &[0x62, 0x0B]);
        // CPS3 has no CPS4 applet, and no chaining or other class.
        let applet = [
            0x00, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00,
        ];
        assert_eq!(sw_of(&mut c, &applet), 0x6A82);
        assert_eq!(
            sw_of(&mut c, &[0x01, 0xA4, 0x09, 0x0C, 0x02, 0x3F, 0x00]),
            0x6E00
        );
        assert_eq!(sw_of(&mut c, &[0x00, 0x99, 0x00, 0x00]), 0x6D00);
    }

    #[test]
    fn cps4_needs_its_applet_then_reads_from_the_mf() {
        let mut c = card(Profile::Cps4);
        assert_eq!(
            sw_of(&mut c, &[0x01, 0xA4, 0x09, 0x0C, 0x02, 0xD0, 0x03]),
            0x6881
        );
        assert_eq!(sw_of(&mut c, &[0x01, 0x20, 0x00, 0x01]), 0x6881);
        let mut c = opened_cps4();
        assert_eq!(
            sw_of(&mut c, &[0x01, 0xA4, 0x09, 0x0C, 0x02, 0xD0, 0x03]),
            0x9000
        );
        let (sn, sw) = send(&mut c, &[0x01, 0xB0, 0x00, 0x00, 0x00]);
        assert_eq!((sn.len(), sw), (12, 0x6282));
        assert_eq!(
            sw_of(
                &mut c,
                &[0x01, 0xA4, 0x09, 0x0C, 0x04, 0x00, 0x01, 0xC0, 0x01]
            ),
            0x9000
        );
        let cert = read_file(&mut c, 0x01, 0x00);
        assert_eq!(cert, load_certificate(TEST_CERT_PEM).unwrap());
        // A CPS4 reads 256 bytes at once.
        let (data, sw) = send(&mut c, &[0x01, 0xB0, 0x00, 0x00, 0x00]);
        assert_eq!((data.len(), sw), (256, 0x9000));
        // The basic channel is not simulated; GET DATA is a CPS3 command.
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x09, 0x0C, 0x02, 0xD0, 0x03]),
            0x6E00
        );
        assert_eq!(
            sw_of(&mut c, &[0x01, 0xCB, 0x3F, 0xFF, 0x01, 0x4D, 0x00]),
            0x6D00
        );
        // Power cycle: the applet must be selected again.
        c.power_cycle();
        assert_eq!(
            sw_of(&mut c, &[0x01, 0xA4, 0x09, 0x0C, 0x02, 0xD0, 0x03]),
            0x6881
        );
    }

    fn cps3_pin_counter(c: &mut Card) -> u8 {
        let query = [
            0x00, 0xCB, 0x3F, 0xFF, 0x0A, 0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x01, 0x02, 0xA0,
            0x80, 0x00,
        ];
        let (data, sw) = send(c, &query);
        assert_eq!(sw, 0x9000);
        assert_eq!(
            &data[..12],
            &[
                0x70, 0x0C, 0xBF, 0x81, 0x01, 0x08, 0xA0, 0x06, 0x9A, 0x01, 0x03, 0x9B
            ]
        );
        assert_eq!(data.len(), 14);
        data[13]
    }

    #[test]
    fn cps3_pin_counter_and_blocking() {
        let mut c = card(Profile::Cps3);
        assert_eq!(cps3_pin_counter(&mut c), 3);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"0000")), 0x63C2);
        assert_eq!(cps3_pin_counter(&mut c), 2);
        // The right PIN resets the counter.
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"1234")), 0x9000);
        assert!(c.verified());
        assert_eq!(cps3_pin_counter(&mut c), 3);
        // A wrong one cancels the verification.
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"9999")), 0x63C2);
        assert!(!c.verified());
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"9999")), 0x63C1);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"9999")), 0x63C0);
        assert_eq!(cps3_pin_counter(&mut c), 0);
        // Blocked: even the right PIN is refused, nothing changes.
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"1234")), 0x6983);
        assert_eq!(sw_of(&mut c, &[0x00, 0x20, 0x00, 0x01]), 0x6983);
        assert!(!c.verified());
        assert_eq!(c.tries_left(), 0);
        assert_eq!(c.counters().verify_attempts, 6);
        // Unknown PIN reference, bad block length (counted, not charged).
        let mut c = card(Profile::Cps3);
        assert_eq!(sw_of(&mut c, &[0x00, 0x20, 0x00, 0x81, 0x01, 0x31]), 0x6A88);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0x20, 0x00, 0x01, 0x04, 0x31, 0x32, 0x33, 0x34]
            ),
            0x6700
        );
        assert_eq!(c.tries_left(), 3);
        let other_pin = [
            0x00, 0xCB, 0x3F, 0xFF, 0x0A, 0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, 0x02, 0x02, 0xA0,
            0x80, 0x00,
        ];
        assert_eq!(sw_of(&mut c, &other_pin), 0x6A88);
    }

    #[test]
    fn cps4_pin_counter_without_data() {
        let mut c = opened_cps4();
        let query = [0x01, 0x20, 0x00, 0x01];
        assert_eq!(sw_of(&mut c, &query), 0x63C3);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x01, b"4321")), 0x63C2);
        assert_eq!(sw_of(&mut c, &query), 0x63C2);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x01, b"1234")), 0x9000);
        assert_eq!(sw_of(&mut c, &query), 0x9000);
        // Power off forgets the verification, not the counter.
        c.power_cycle();
        let mut c2 = c;
        let select = [
            0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00,
        ];
        assert_eq!(sw_of(&mut c2, &select), 0x9000);
        assert_eq!(sw_of(&mut c2, &query), 0x63C3);
        for _ in 0..3 {
            sw_of(&mut c2, &verify_apdu(0x01, b"0000"));
        }
        assert_eq!(sw_of(&mut c2, &query), 0x6983);
        assert_eq!(sw_of(&mut c2, &verify_apdu(0x01, b"1234")), 0x6983);
        assert_eq!(c2.counters().verify_attempts, 6);
    }

    #[test]
    fn stored_counter_survives() {
        let dir = std::env::temp_dir().join(format!("card-sim-card-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pin.json");
        let config = || CardConfig {
            profile: Profile::Cps3,
            fault: Fault::None,
            pin: b"1234".to_vec(),
            serial: SERIAL,
            certificate: vec![0x30, 0x00],
            key: None,
        };
        let mut c = Card::new(config(), 3, Some(TriesStore::new(&path)));
        sw_of(&mut c, &verify_apdu(0x00, b"0000"));
        let stored = TriesStore::new(&path).load().unwrap();
        assert_eq!(stored, Some(2));
        let mut c = Card::new(config(), 2, Some(TriesStore::new(&path)));
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"0000")), 0x63C1);
        assert_eq!(TriesStore::new(&path).load().unwrap(), Some(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn digest_info(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let hash = Sha256::digest(message).to_vec();
        let mut di = DIGEST_INFO_PREFIX.to_vec();
        di.extend_from_slice(&hash);
        (hash, di)
    }

    const CPS3_MSE: [u8; 11] = [
        0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82,
    ];

    fn internal_authenticate(di: &[u8]) -> Vec<u8> {
        let mut apdu = vec![0x00, 0x88, 0x00, 0x00, di.len() as u8];
        apdu.extend_from_slice(di);
        apdu.push(0x00);
        apdu
    }

    #[test]
    fn cps3_signature_through_get_response() {
        let mut c = card(Profile::Cps3);
        let (hash, di) = digest_info(b"handshake");
        // No environment, then no PIN.
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6985);
        assert_eq!(sw_of(&mut c, &CPS3_MSE), 0x9000);
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6982);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x00, b"1234")), 0x9000);
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6100);
        let (first, sw) = send(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!((first.len(), sw), (0xE7, 0x6119));
        let (last, sw) = send(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0x19]);
        assert_eq!((last.len(), sw), (0x19, 0x9000));
        let signature = [first, last].concat();
        key()
            .public_key()
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
            .unwrap();
        assert_eq!(c.counters().signatures, 1);
        // Nothing left to get.
        assert_eq!(sw_of(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0x00]), 0x6985);
    }

    #[test]
    fn get_response_is_lost_after_another_command_and_checks_le() {
        let mut c = card(Profile::Cps3);
        let (_, di) = digest_info(b"x");
        sw_of(&mut c, &verify_apdu(0x00, b"1234"));
        sw_of(&mut c, &CPS3_MSE);
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6100);
        // Smaller chunks than asked for are fine.
        let (part, sw) = send(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0x10]);
        assert_eq!((part.len(), sw), (0x10, 0x61F0));
        // Asking for more than is left: 6Cxx, the data stays.
        assert_eq!(sw_of(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0xF1]), 0x6CF0);
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x09, 0x0C, 0x02, 0x3F, 0x00]),
            0x9000
        );
        assert_eq!(sw_of(&mut c, &[0x00, 0xC0, 0x00, 0x00, 0x00]), 0x6985);
    }

    #[test]
    fn mse_is_checked() {
        let mut c = card(Profile::Cps3);
        assert_eq!(
            sw_of(
                &mut c,
                &[
                    0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x81
                ]
            ),
            0x6A88
        );
        assert_eq!(
            sw_of(
                &mut c,
                &[
                    0x00, 0x22, 0x41, 0xA4, 0x06, 0x80, 0x01, 0x05, 0x84, 0x01, 0x82
                ]
            ),
            0x6A80
        );
        assert_eq!(
            sw_of(
                &mut c,
                &[
                    0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x02, 0x84, 0x01, 0x82
                ]
            ),
            0x6A81
        );
        assert_eq!(
            sw_of(&mut c, &[0x00, 0x22, 0x41, 0xA4, 0x02, 0x80, 0x05]),
            0x6A80
        );
        // A refused MSE leaves no environment.
        sw_of(&mut c, &verify_apdu(0x00, b"1234"));
        assert_eq!(sw_of(&mut c, &CPS3_MSE), 0x9000);
        assert_eq!(
            sw_of(&mut c, &[0x00, 0x22, 0x41, 0xA4, 0x03, 0x84, 0x01, 0x82]),
            0x6A80
        );
        let (_, di) = digest_info(b"x");
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6985);
    }

    #[test]
    fn power_cycle_forgets_pin_and_environment() {
        let mut c = card(Profile::Cps3);
        sw_of(&mut c, &verify_apdu(0x00, b"1234"));
        sw_of(&mut c, &CPS3_MSE);
        c.power_cycle();
        assert!(!c.verified());
        let (_, di) = digest_info(b"x");
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6985);
        sw_of(&mut c, &CPS3_MSE);
        assert_eq!(sw_of(&mut c, &internal_authenticate(&di)), 0x6982);
    }

    const CPS4_MSE_PSS: [u8; 9] = [0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0xA0];
    const CPS4_MSE_DECIPHER: [u8; 8] = [0x01, 0x22, 0x41, 0xB8, 0x03, 0x83, 0x01, 0x20];

    #[test]
    fn cps4_pss_signature() {
        let mut c = opened_cps4();
        let hash = Sha256::digest(b"tls 1.3 handshake").to_vec();
        let mut cds = vec![0x01, 0x2A, 0x9E, 0x9A, 0x20];
        cds.extend_from_slice(&hash);
        cds.push(0x00);
        assert_eq!(sw_of(&mut c, &CPS4_MSE_PSS), 0x9000);
        assert_eq!(sw_of(&mut c, &cds), 0x6982);
        sw_of(&mut c, &verify_apdu(0x01, b"1234"));
        let (signature, sw) = send(&mut c, &cds);
        assert_eq!((signature.len(), sw), (256, 0x9000));
        key()
            .public_key()
            .verify(Pss::new::<Sha256>(), &hash, &signature)
            .unwrap();
        // The salt is 32 bytes, as rustls requires: a verifier expecting
        // another salt length refuses the signature.
        assert!(
            key()
                .public_key()
                .verify(Pss::new_with_salt::<Sha256>(20), &hash, &signature)
                .is_err()
        );
        // Not a SHA-256 hash.
        assert_eq!(
            sw_of(&mut c, &[0x01, 0x2A, 0x9E, 0x9A, 0x02, 0x01, 0x02, 0x00]),
            0x6700
        );
        // The PSS environment does not allow deciphering.
        assert_eq!(
            sw_of(&mut c, &[0x01, 0x2A, 0x80, 0x86, 0x02, 0x01, 0x02, 0x00]),
            0x6985
        );
        assert_eq!(c.counters().signatures, 1);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2C, 0x20]
            ),
            0x6A88
        );
        assert_eq!(
            sw_of(
                &mut c,
                &[0x01, 0x22, 0x81, 0xB6, 0x04, 0x91, 0x02, 0x2D, 0xA0]
            ),
            0x6A80
        );
    }

    fn decipher_chain(block: &[u8], split: usize) -> [Vec<u8>; 2] {
        let (first, last) = block.split_at(split);
        let mut a = vec![0x11, 0x2A, 0x80, 0x86, first.len() as u8];
        a.extend_from_slice(first);
        let mut b = vec![0x01, 0x2A, 0x80, 0x86, last.len() as u8];
        b.extend_from_slice(last);
        b.push(0x00);
        [a, b]
    }

    fn pkcs1_block(di: &[u8]) -> Vec<u8> {
        let mut block = vec![0xFF; 256];
        block[0] = 0x00;
        block[1] = 0x01;
        block[256 - di.len() - 1] = 0x00;
        block[256 - di.len()..].copy_from_slice(di);
        block
    }

    #[test]
    fn cps4_pkcs1_through_chained_decipher() {
        let mut c = opened_cps4();
        let (hash, di) = digest_info(b"tls 1.2 handshake");
        let block = pkcs1_block(&di);
        let [first, last] = decipher_chain(&block, 128);
        assert_eq!(sw_of(&mut c, &CPS4_MSE_DECIPHER), 0x9000);
        assert_eq!(sw_of(&mut c, &first), 0x6982);
        assert_eq!(sw_of(&mut c, &verify_apdu(0x01, b"1234")), 0x9000);
        assert_eq!(sw_of(&mut c, &first), 0x9000);
        let (signature, sw) = send(&mut c, &last);
        assert_eq!((signature.len(), sw), (256, 0x9000));
        key()
            .public_key()
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
            .unwrap();
        assert_eq!(c.counters().signatures, 1);

        // Another split (255 + 1, as OpenSC chains), and with an ISO
        // padding indicator byte in front.
        let [first, last] = decipher_chain(&block, 255);
        assert_eq!(sw_of(&mut c, &first), 0x9000);
        assert_eq!(send(&mut c, &last).0, signature);
        let with_indicator = [&[0x81][..], &block].concat();
        let [first, last] = decipher_chain(&with_indicator, 200);
        assert_eq!(sw_of(&mut c, &first), 0x9000);
        assert_eq!(send(&mut c, &last).0, signature);

        // Half a block alone is the wrong length.
        let [_, last] = decipher_chain(&block, 128);
        assert_eq!(sw_of(&mut c, &last), 0x6700);
        // A chain broken by another command is dropped.
        let [first, last] = decipher_chain(&block, 128);
        assert_eq!(sw_of(&mut c, &first), 0x9000);
        assert_eq!(sw_of(&mut c, &[0x01, 0x20, 0x00, 0x01]), 0x9000);
        assert_eq!(sw_of(&mut c, &last), 0x6700);
        // Chaining is for PSO DECIPHER only.
        assert_eq!(sw_of(&mut c, &[0x11, 0x20, 0x00, 0x01]), 0x6884);
        // A block above the modulus.
        let [first, last] = decipher_chain(&[0xFF; 256], 128);
        assert_eq!(sw_of(&mut c, &first), 0x9000);
        assert_eq!(sw_of(&mut c, &last), 0x6A80);
        assert_eq!(c.counters().signatures, 3);
    }

    #[test]
    fn cps4_without_le_goes_through_get_response() {
        let mut c = opened_cps4();
        sw_of(&mut c, &verify_apdu(0x01, b"1234"));
        sw_of(&mut c, &CPS4_MSE_PSS);
        let mut cds = vec![0x01, 0x2A, 0x9E, 0x9A, 0x20];
        cds.extend_from_slice(&[7; 32]);
        assert_eq!(sw_of(&mut c, &cds), 0x6100);
        let (signature, sw) = send(&mut c, &[0x01, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!((signature.len(), sw), (256, 0x9000));
    }

    #[test]
    fn unknown_card() {
        let mut c = card(Profile::Unknown);
        assert_eq!(c.atr(), &UNKNOWN_ATR);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0xA4, 0x09, 0x0C, 0x04, 0x3F, 0x00, 0xD0, 0x03]
            ),
            0x6A82
        );
        assert_eq!(
            sw_of(
                &mut c,
                &[
                    0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00
                ]
            ),
            0x6A82
        );
        assert_eq!(sw_of(&mut c, &[0x00, 0xB0, 0x00, 0x00, 0x00]), 0x6D00);
    }

    #[test]
    fn faults() {
        let mut c = card_with(Profile::Cps3, Fault::BadSw);
        assert_eq!(
            c.process(&[0x00, 0xA4, 0x09, 0x0C, 0x02, 0x3F, 0x00]),
            vec![0x6F, 0x00]
        );
        assert_eq!(c.counters().apdus, 1);

        let mut c = card_with(Profile::Cps3, Fault::Truncated);
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0xA4, 0x09, 0x0C, 0x04, 0x3F, 0x00, 0xD0, 0x03]
            ),
            0x9000
        );
        assert_eq!(c.process(&[0x00, 0xB0, 0x00, 0x00, 0xE7]).len(), 1);

        let mut c = card_with(Profile::Cps4, Fault::GarbageCert);
        let select = [
            0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00,
        ];
        sw_of(&mut c, &select);
        sw_of(
            &mut c,
            &[0x01, 0xA4, 0x09, 0x0C, 0x04, 0x00, 0x01, 0xC0, 0x01],
        );
        let garbage = read_file(&mut c, 0x01, 0x00);
        assert_eq!(garbage, garbage_certificate());
        // The FCP announces what is served.
        assert_eq!(
            fcp_size(&mut c, &[0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01]),
            garbage.len()
        );
        // Its DER header covers the whole file, so a reader takes it all.
        assert_eq!(
            usize::from(u16::from_be_bytes([garbage[2], garbage[3]])) + 4,
            garbage.len()
        );
        assert_eq!(crate::crypto::certificate_public_key(&garbage), None);
    }

    /// The class byte and the SELECT form the driver uses for a path from
    /// the MF: CPS3 P1=09 with 3F00, CPS4 P1=08 without.
    fn select_path(profile: Profile, path: &[u8], p2: u8) -> Vec<u8> {
        let (cla, p1, path) = match profile {
            Profile::Cps4 => (0x01, 0x08, &path[2..]),
            _ => (0x00, 0x09, path),
        };
        let mut apdu = vec![cla, 0xA4, p1, p2, path.len() as u8];
        apdu.extend_from_slice(path);
        if p2 != 0x0C {
            apdu.push(0x00);
        }
        apdu
    }

    fn opened(profile: Profile, fault: Fault) -> Card {
        let mut c = card_with(profile, fault);
        if profile == Profile::Cps4 {
            let select = [
                0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00,
            ];
            assert_eq!(sw_of(&mut c, &select), 0x9000);
        }
        c
    }

    fn cla(profile: Profile) -> u8 {
        if profile == Profile::Cps4 { 0x01 } else { 0x00 }
    }

    /// Selects `path` (from the MF, with 3F00) asking for the FCP; returns
    /// the size it announces after checking the template.
    fn fcp_size(c: &mut Card, path: &[u8]) -> usize {
        let profile = c.profile();
        let (fcp, sw) = send(c, &select_path(profile, path, 0x04));
        assert_eq!(sw, 0x9000, "{path:02X?}");
        let fid = &path[path.len() - 2..];
        assert_eq!(fcp.len(), 13, "{fcp:02X?}");
        assert_eq!(&fcp[..4], &[0x62, 0x0B, 0x80, 0x02]);
        assert_eq!(&fcp[6..11], &[0x82, 0x01, 0x01, 0x83, 0x02]);
        assert_eq!(&fcp[11..], fid);
        // Also a well-formed BER-TLV template, FCP tags inside.
        let nodes = parse_der(&fcp).unwrap();
        assert_eq!(nodes.len(), 1);
        let tags: Vec<u8> = nodes[0].children.iter().map(|n| n.tag).collect();
        assert_eq!(tags, [0x80, 0x82, 0x83]);
        usize::from(u16::from_be_bytes([fcp[4], fcp[5]]))
    }

    const EF_PATHS: [[u8; 6]; 5] = [
        [0x3F, 0x00, 0x00, 0x01, 0x50, 0x31],
        [0x3F, 0x00, 0x00, 0x01, 0x50, 0x01],
        [0x3F, 0x00, 0x00, 0x01, 0x50, 0x02],
        [0x3F, 0x00, 0x00, 0x01, 0x50, 0x03],
        [0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01],
    ];

    /// Selects `path` without FCP and reads it whole.
    fn read_path(c: &mut Card, path: &[u8]) -> Vec<u8> {
        let profile = c.profile();
        assert_eq!(sw_of(c, &select_path(profile, path, 0x0C)), 0x9000);
        read_file(c, cla(profile), 0x00)
    }

    #[test]
    fn fcp_gives_every_ef_size() {
        for profile in [Profile::Cps3, Profile::Cps4] {
            let mut c = opened(profile, Fault::None);
            let sn_path = [0x3F, 0x00, 0xD0, 0x03];
            let mut paths: Vec<&[u8]> = EF_PATHS.iter().map(|p| &p[..]).collect();
            paths.push(&sn_path);
            for path in paths {
                let size = fcp_size(&mut c, path);
                let content = read_path(&mut c, path);
                assert_eq!(size, content.len(), "{profile:?} {path:02X?}");
                // Reading at the announced end: 6B00, as for any offset
                // past it; one byte before it, that byte and 6282.
                let cla = cla(profile);
                let end = [cla, 0xB0, (size >> 8) as u8, size as u8, 0x01];
                assert_eq!(sw_of(&mut c, &end), 0x6B00);
                let last = size - 1;
                let (data, sw) = send(&mut c, &[cla, 0xB0, (last >> 8) as u8, last as u8, 0x02]);
                assert_eq!((&data[..], sw), (&content[last..], 0x6282));
            }
            let cert = load_certificate(TEST_CERT_PEM).unwrap();
            assert_eq!(fcp_size(&mut c, &EF_PATHS[4]), cert.len());
            assert_eq!(fcp_size(&mut c, &sn_path), 12);
            // P2=00 answers the same FCP; DFs have no size.
            let (fcp, sw) = send(&mut c, &select_path(profile, &EF_PATHS[1], 0x00));
            assert_eq!(sw, 0x9000);
            assert_eq!(&fcp[..4], &[0x62, 0x0B, 0x80, 0x02]);
            let (fcp, sw) = send(
                &mut c,
                &select_path(profile, &[0x3F, 0x00, 0x00, 0x01], 0x04),
            );
            assert_eq!(sw, 0x9000);
            assert_eq!(fcp, [0x62, 0x07, 0x82, 0x01, 0x38, 0x83, 0x02, 0x00, 0x01]);
        }
    }

    /// The text of every UTF8String in a tree.
    fn labels(nodes: &[Node]) -> Vec<String> {
        let mut out = Vec::new();
        for n in nodes {
            if n.tag == 0x0C {
                out.push(String::from_utf8(n.value.to_vec()).unwrap());
            }
            out.extend(labels(&n.children));
        }
        out
    }

    /// Follows the directory the way the driver will: ODF → PrKDF, CDF,
    /// AODF (paths relative to 3F00/0001, or absolute), then uses what it
    /// finds: key reference in MSE, PIN reference and padding in VERIFY,
    /// certificate path.
    #[test]
    fn pkcs15_directory_leads_to_key_certificate_and_pin() {
        for profile in [Profile::Cps3, Profile::Cps4] {
            let mut c = opened(profile, Fault::None);
            let app = [0x3F, 0x00, 0x00, 0x01];
            let odf = read_path(&mut c, &[&app[..], &[0x50, 0x31]].concat());
            let odf = parse_der(&odf).unwrap();
            let tags: Vec<u8> = odf.iter().map(|n| n.tag).collect();
            assert_eq!(tags, [0xA0, 0xA4, 0xA8]);
            let mut dirs = Vec::new();
            for entry in &odf {
                assert_eq!(entry.children.len(), 1);
                let path = entry.at(0, 0x30).at(0, 0x04).value;
                let dir = read_path(&mut c, &[&app[..], path].concat());
                dirs.push(dir);
            }
            let [prkdf, cdf, aodf] = [&dirs[0], &dirs[1], &dirs[2]].map(|d| parse_der(d).unwrap());

            // PrKDF: two privateRSAKey objects, the authentication key
            // first, with the reference MSE:SET takes.
            assert_eq!(labels(&prkdf), ["CPS_PRIV_AUT", "CPS_PRIV_SIG"]);
            assert_eq!(prkdf.len(), 2);
            let auth = &prkdf[0];
            assert_eq!(auth.tag, 0x30);
            assert_eq!(auth.at(0, 0x30).at(1, 0x04).value, [0x01]);
            let key_class = auth.at(1, 0x30);
            assert_eq!(key_class.at(0, 0x04).value, [0x01]);
            assert_eq!(key_class.at(1, 0x03).value, [0x05, 0x20]);
            let reference = match key_class.at(2, 0x02).value {
                [r] | [0x00, r] => *r,
                other => panic!("keyReference {other:02X?}"),
            };
            let rsa = auth.at(2, 0xA1).at(0, 0x30);
            assert_eq!(rsa.at(0, 0x30).at(0, 0x04).value, [0u8; 0]);
            assert_eq!(rsa.at(1, 0x02).value, [0x08, 0x00]);
            let sign_class = prkdf[1].at(1, 0x30);
            assert_eq!(sign_class.at(0, 0x04).value, [0x02]);
            assert_eq!(sign_class.at(1, 0x03).value, [0x06, 0x00, 0x40]);
            let (sign_ref, mse) = match profile {
                Profile::Cps3 => (vec![0x00, 0x81], CPS3_MSE.to_vec()),
                _ => (vec![0x21], CPS4_MSE_DECIPHER.to_vec()),
            };
            assert_eq!(sign_class.at(2, 0x02).value, sign_ref);
            assert_eq!(mse.last(), Some(&reference));
            assert_eq!(sw_of(&mut c, &mse), 0x9000);

            // CDF: the certificate with the key's iD, at an absolute path.
            assert_eq!(labels(&cdf), ["CPS_CERT_AUT"]);
            let cert = &cdf[0];
            assert_eq!(cert.at(1, 0x30).at(0, 0x04).value, [0x01]);
            let path = cert.at(2, 0xA1).at(0, 0x30).at(0, 0x30).at(0, 0x04).value;
            assert_eq!(path, [0x3F, 0x00, 0x00, 0x01, 0xC0, 0x01]);
            assert_eq!(
                read_path(&mut c, path),
                load_certificate(TEST_CERT_PEM).unwrap()
            );

            // AODF: the PIN protecting the key (authId 01), reference 01,
            // 8 bytes padded with FF.
            assert_eq!(labels(&aodf), ["CPS_PIN"]);
            let pin = &aodf[0];
            assert_eq!(pin.at(1, 0x30).at(0, 0x04).value, [0x01]);
            let attributes = pin.at(2, 0xA1).at(0, 0x30);
            let tags: Vec<u8> = attributes.children.iter().map(|n| n.tag).collect();
            assert_eq!(tags, [0x03, 0x0A, 0x02, 0x02, 0x02, 0x80, 0x04]);
            assert_eq!(attributes.at(0, 0x03).value, [0x02, 0x0C]);
            assert_eq!(attributes.at(1, 0x0A).value, [0x01]);
            let stored = attributes.at(3, 0x02).value[0];
            let pin_ref = attributes.at(5, 0x80).value[0];
            let pad = attributes.at(6, 0x04).value[0];
            assert_eq!((stored, pin_ref, pad), (8, 0x01, 0xFF));
            let mut verify = vec![cla(profile), 0x20, 0x00, pin_ref, stored];
            verify.extend_from_slice(b"1234");
            verify.resize(5 + usize::from(stored), pad);
            assert_eq!(sw_of(&mut c, &verify), 0x9000);
        }
    }

    #[test]
    fn select_by_fid_inside_the_application() {
        let mut c = card(Profile::Cps3);
        assert_eq!(
            sw_of(&mut c, &[0x00, 0xA4, 0x08, 0x0C, 0x02, 0x00, 0x01]),
            0x9000
        );
        for fid in [[0x50, 0x31], [0x50, 0x01], [0x50, 0x02], [0x50, 0x03]] {
            let apdu = [0x00, 0xA4, 0x00, 0x0C, 0x02, fid[0], fid[1]];
            // From the DF, then from a sibling EF.
            assert_eq!(sw_of(&mut c, &apdu), 0x9000);
            assert_eq!(sw_of(&mut c, &apdu), 0x9000);
        }
        // Not under the MF.
        assert_eq!(
            sw_of(
                &mut c,
                &[0x00, 0xA4, 0x09, 0x0C, 0x04, 0x3F, 0x00, 0x50, 0x31]
            ),
            0x6A82
        );
    }

    #[test]
    fn no_pkcs15_fault_hides_the_odf() {
        for profile in [Profile::Cps3, Profile::Cps4] {
            let mut c = opened(profile, Fault::NoPkcs15);
            for p2 in [0x0C, 0x04] {
                assert_eq!(
                    sw_of(&mut c, &select_path(profile, &EF_PATHS[0], p2)),
                    0x6A82
                );
            }
            // Nor by FID from the application DF.
            let app = select_path(profile, &[0x3F, 0x00, 0x00, 0x01], 0x0C);
            assert_eq!(sw_of(&mut c, &app), 0x9000);
            assert_eq!(
                sw_of(&mut c, &[cla(profile), 0xA4, 0x00, 0x0C, 0x02, 0x50, 0x31]),
                0x6A82
            );
            // The rest of the card is there.
            for path in &EF_PATHS[1..] {
                let size = fcp_size(&mut c, path);
                assert_eq!(read_path(&mut c, path).len(), size);
            }
        }
    }

    #[test]
    fn signature_commands_are_recognised() {
        assert!(Profile::Cps3.is_signature_command(&[0x00, 0x88, 0x00, 0x00, 0x01, 0x00, 0x00]));
        assert!(Profile::Cps4.is_signature_command(&[0x01, 0x2A, 0x9E, 0x9A, 0x01, 0x00, 0x00]));
        assert!(Profile::Cps4.is_signature_command(&[0x01, 0x2A, 0x80, 0x86, 0x01, 0x00, 0x00]));
        assert!(!Profile::Cps4.is_signature_command(&[0x11, 0x2A, 0x80, 0x86, 0x01, 0x00]));
        assert!(!Profile::Cps3.is_signature_command(&[0x00, 0x20, 0x00, 0x01]));
        assert!(!Profile::Unknown.is_signature_command(&[0x00, 0x88]));
    }
}
