//! The optional small display: an SSD1306-class 128×64 OLED on I2C,
//! showing up to six lines of text (the box's address, its state, the
//! setup code).
//!
//! The controller protocol is the `ssd1306` crate's; text is drawn with
//! `embedded-graphics` in its ISO 8859-1 font, which has the accented
//! letters French needs.

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_6X10;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use embedded_hal::i2c::I2c;
use serde::Serialize;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use crate::led::PartError;

/// Characters per line with the 6-pixel font on 128 pixels.
pub const COLUMNS: usize = 21;
/// Lines of 10-pixel text on 64 pixels.
pub const LINES: usize = 6;

/// What the display shows: lines of text, top to bottom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Screen {
    pub lines: Vec<String>,
}

impl Screen {
    /// Lines fitted to the display: at most `LINES`, each at most
    /// `COLUMNS` characters, typographic characters the font lacks
    /// replaced by plain ones.
    pub fn new<I, S>(lines: I) -> Screen
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Screen {
            lines: lines
                .into_iter()
                .take(LINES)
                .map(|l| fit(l.as_ref()))
                .collect(),
        }
    }
}

fn fit(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        match c {
            '’' | '‘' => out.push('\''),
            '“' | '”' => out.push('"'),
            '–' | '—' => out.push('-'),
            '…' => out.push_str("..."),
            '\u{a0}' | '\u{202f}' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.chars().take(COLUMNS).collect()
}

/// Something that shows a `Screen`.
pub trait TextDisplay {
    fn show(&mut self, screen: &Screen) -> Result<(), PartError>;
}

type Driver<I> =
    Ssd1306<I2CInterface<I>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// An SSD1306 128×64 on an I2C bus.
pub struct OledDisplay<I> {
    driver: Driver<I>,
    /// False until initialised, and again after a bus error: the display
    /// may have lost power or been reconnected, so it is set up again.
    ready: bool,
}

impl<I: I2c> OledDisplay<I> {
    /// `address` is usually 0x3C (0x3D with the address pin high).
    pub fn new(i2c: I, address: u8) -> Self {
        let interface = I2CDisplayInterface::new_custom_address(i2c, address);
        OledDisplay {
            driver: Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0)
                .into_buffered_graphics_mode(),
            ready: false,
        }
    }

    fn draw(&mut self, screen: &Screen) -> Result<(), PartError> {
        let err = |e| PartError::new("display", e);
        if !self.ready {
            self.driver.init().map_err(err)?;
            self.ready = true;
        }
        self.driver.clear_buffer();
        let style = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
        for (row, line) in screen.lines.iter().enumerate() {
            let y = (row * 10 + 2) as i32;
            // Drawing into the buffer cannot fail.
            let _ = Text::with_baseline(line, Point::new(1, y), style, Baseline::Top)
                .draw(&mut self.driver);
        }
        self.driver.flush().map_err(err)
    }
}

impl<I: I2c> TextDisplay for OledDisplay<I> {
    fn show(&mut self, screen: &Screen) -> Result<(), PartError> {
        let result = self.draw(screen);
        if result.is_err() {
            self.ready = false;
        }
        result
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, ErrorType, Operation};

    /// An SSD1306 as far as our driver uses it: control bytes, the
    /// commands that matter, horizontal addressing into its RAM.
    #[derive(Default)]
    pub(crate) struct EmulatedOled {
        pub ram: Vec<[u8; 128]>,
        pub on: bool,
        pub charge_pump: bool,
        pub horizontal: bool,
        columns: (u8, u8),
        pages: (u8, u8),
        pointer: (u8, u8),
        pending: Vec<u8>,
        pub writes: usize,
        pub fail: bool,
    }

    impl EmulatedOled {
        pub fn new() -> Self {
            EmulatedOled {
                ram: vec![[0; 128]; 8],
                columns: (0, 127),
                pages: (0, 7),
                ..Default::default()
            }
        }

        fn command(&mut self, byte: u8) {
            self.pending.push(byte);
            let p = self.pending.clone();
            let done = match p[0] {
                0xAE | 0xAF => {
                    self.on = p[0] == 0xAF;
                    true
                }
                0x8D if p.len() == 2 => {
                    self.charge_pump = p[1] == 0x14;
                    true
                }
                0x20 if p.len() == 2 => {
                    self.horizontal = p[1] == 0;
                    true
                }
                0x21 if p.len() == 3 => {
                    self.columns = (p[1], p[2]);
                    self.pointer.0 = p[1];
                    true
                }
                0x22 if p.len() == 3 => {
                    self.pages = (p[1], p[2]);
                    self.pointer.1 = p[1];
                    true
                }
                // Two-byte commands of the init sequence.
                0xD5 | 0xA8 | 0xD3 | 0xDA | 0x81 | 0xD9 | 0xDB if p.len() == 2 => true,
                0x8D | 0x20 | 0x21 | 0x22 | 0xD5 | 0xA8 | 0xD3 | 0xDA | 0x81 | 0xD9 | 0xDB => false,
                _ => true,
            };
            if done {
                self.pending.clear();
            }
        }

        fn data(&mut self, byte: u8) {
            let (col, page) = self.pointer;
            self.ram[usize::from(page & 7)][usize::from(col & 127)] = byte;
            if col >= self.columns.1 {
                self.pointer.0 = self.columns.0;
                self.pointer.1 = if page >= self.pages.1 {
                    self.pages.0
                } else {
                    page + 1
                };
            } else {
                self.pointer.0 = col + 1;
            }
        }

        /// The screen as text, `#` for a lit pixel.
        pub fn picture(&self) -> String {
            let mut out = String::new();
            for y in 0..64 {
                for x in 0..128 {
                    let lit = self.ram[y / 8][x] & (1 << (y % 8)) != 0;
                    out.push(if lit { '#' } else { '.' });
                }
                out.push('\n');
            }
            out
        }
    }

    impl ErrorType for EmulatedOled {
        type Error = ErrorKind;
    }

    impl I2c for EmulatedOled {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [Operation<'_>],
        ) -> Result<(), Self::Error> {
            if self.fail {
                return Err(ErrorKind::Other);
            }
            assert_eq!(address, 0x3C);
            for op in operations {
                let Operation::Write(bytes) = op else {
                    panic!("the display is never read");
                };
                self.writes += 1;
                let (control, rest) = bytes.split_first().expect("empty write");
                for &b in rest {
                    match control {
                        0x00 => self.command(b),
                        0x40 => self.data(b),
                        other => panic!("control byte {other:#x}"),
                    }
                }
            }
            Ok(())
        }
    }

    /// The picture of `screen` drawn by embedded-graphics alone, to
    /// compare with what went over the bus.
    fn expected_picture(screen: &Screen) -> String {
        struct Canvas(Vec<[bool; 128]>);
        impl OriginDimensions for Canvas {
            fn size(&self) -> Size {
                Size::new(128, 64)
            }
        }
        impl DrawTarget for Canvas {
            type Color = BinaryColor;
            type Error = core::convert::Infallible;
            fn draw_iter<It: IntoIterator<Item = Pixel<BinaryColor>>>(
                &mut self,
                pixels: It,
            ) -> Result<(), Self::Error> {
                for Pixel(p, c) in pixels {
                    if (0..128).contains(&p.x) && (0..64).contains(&p.y) {
                        self.0[p.y as usize][p.x as usize] = c.is_on();
                    }
                }
                Ok(())
            }
        }
        let mut canvas = Canvas(vec![[false; 128]; 64]);
        let style = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
        for (row, line) in screen.lines.iter().enumerate() {
            Text::with_baseline(
                line,
                Point::new(1, (row * 10 + 2) as i32),
                style,
                Baseline::Top,
            )
            .draw(&mut canvas)
            .unwrap();
        }
        canvas
            .0
            .iter()
            .map(|row| {
                let mut s: String = row.iter().map(|&on| if on { '#' } else { '.' }).collect();
                s.push('\n');
                s
            })
            .collect()
    }

    #[test]
    fn the_frame_on_the_bus_is_the_text_drawn() {
        let mut oled = EmulatedOled::new();
        let screen = Screen::new([
            "Facteur : prêt",
            "https://facteur.local",
            "Code : 7Q4M-K2XD",
        ]);
        {
            let mut display = OledDisplay::new(&mut oled, 0x3C);
            display.show(&screen).unwrap();
        }
        assert!(oled.on, "the display was not switched on");
        assert!(
            oled.charge_pump,
            "without the charge pump the panel stays dark"
        );
        assert!(oled.horizontal);
        assert_eq!(oled.picture(), expected_picture(&screen));
        // The top-left pixel row of the "F" is lit: a real picture, not blank.
        assert!(oled.picture().lines().nth(2).unwrap().contains('#'));
    }

    #[test]
    fn accented_letters_are_drawn_not_replaced() {
        let mut oled = EmulatedOled::new();
        {
            let mut display = OledDisplay::new(&mut oled, 0x3C);
            display.show(&Screen::new(["é"])).unwrap();
        }
        let with_accent = oled.picture();
        let mut plain = EmulatedOled::new();
        {
            let mut display = OledDisplay::new(&mut plain, 0x3C);
            display.show(&Screen::new(["e"])).unwrap();
        }
        let with_e = plain.picture();
        let mut unknown = EmulatedOled::new();
        {
            let mut display = OledDisplay::new(&mut unknown, 0x3C);
            display.show(&Screen::new(["€"])).unwrap();
        }
        assert_ne!(with_accent, with_e);
        assert_ne!(with_accent, unknown.picture());
    }

    #[test]
    fn a_second_screen_replaces_the_first_entirely() {
        let mut oled = EmulatedOled::new();
        let second = Screen::new(["B"]);
        {
            let mut display = OledDisplay::new(&mut oled, 0x3C);
            display
                .show(&Screen::new(["AAAAAAAAAAAAAAAAAAAAA"; 6]))
                .unwrap();
            display.show(&second).unwrap();
        }
        assert_eq!(oled.picture(), expected_picture(&second));
    }

    #[test]
    fn a_bus_error_is_reported_and_the_display_set_up_again() {
        let mut oled = EmulatedOled::new();
        oled.fail = true;
        let mut display = OledDisplay::new(&mut oled, 0x3C);
        assert!(display.show(&Screen::new(["x"])).is_err());
        assert!(!display.ready);
    }

    #[test]
    fn lines_are_fitted_to_the_display() {
        let screen = Screen::new([
            "Réinitialisation d’usine en cours…",
            "a\tb",
            "3",
            "4",
            "5",
            "6",
            "7",
        ]);
        assert_eq!(screen.lines.len(), LINES);
        assert_eq!(screen.lines[0], "Réinitialisation d'us");
        assert_eq!(screen.lines[0].chars().count(), COLUMNS);
        assert_eq!(screen.lines[1], "ab");
    }
}
