//! Writing GNU assembler text for avr-gcc, counting the flash the code takes.

/// Assembly text under construction, with the bytes of code it assembles to.
#[derive(Debug, Default)]
pub struct Asm {
    /// The text so far.
    pub text: String,
    /// Bytes of instructions emitted so far.
    pub code_bytes: usize,
    /// Whether `rcall` and `rjmp` become `call` and `jmp`: their ±4 KB reach
    /// is not enough for the code of a model with many layers.
    pub long_jumps: bool,
}

/// Instructions that take two words.
const LONG: [&str; 4] = ["lds", "sts", "call", "jmp"];

impl Asm {
    /// An instruction, `mnemonic operands`.
    pub fn i(&mut self, ins: impl AsRef<str>) {
        let mut ins = ins.as_ref();
        let long;
        if self.long_jumps {
            if let Some(rest) = ins.strip_prefix("rcall ").or(ins.strip_prefix("rjmp ")) {
                long = format!(
                    "{} {rest}",
                    if ins.starts_with("rcall") {
                        "call"
                    } else {
                        "jmp"
                    }
                );
                ins = &long;
            }
        }
        let mnemonic = ins.split_whitespace().next().unwrap_or("");
        self.code_bytes += if LONG.contains(&mnemonic) { 4 } else { 2 };
        self.text.push_str("    ");
        self.text.push_str(ins);
        self.text.push('\n');
    }

    /// A label.
    pub fn l(&mut self, label: impl AsRef<str>) {
        self.text.push_str(label.as_ref());
        self.text.push_str(":\n");
    }

    /// A directive or other line that assembles to no code.
    pub fn d(&mut self, line: impl AsRef<str>) {
        self.text.push_str("    ");
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// A comment line (C style: the file goes through the C preprocessor).
    pub fn c(&mut self, comment: impl AsRef<str>) {
        self.text.push_str("    /* ");
        self.text.push_str(comment.as_ref());
        self.text.push_str(" */\n");
    }

    /// A blank line.
    pub fn blank(&mut self) {
        self.text.push('\n');
    }

    /// Text taken as it is (no code).
    pub fn raw(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
    }
}

/// The low and high byte operands of a 16-bit constant.
pub fn lo(v: u32) -> String {
    format!("0x{:02X}", v & 0xFF)
}

/// The high byte of a 16-bit constant.
pub fn hi(v: u32) -> String {
    format!("0x{:02X}", (v >> 8) & 0xFF)
}

/// `.byte` lines for `bytes`, 16 a line.
pub fn byte_lines(a: &mut Asm, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        let b: Vec<String> = chunk.iter().map(|b| format!("0x{b:02X}")).collect();
        a.d(format!(".byte {}", b.join(",")));
    }
}
