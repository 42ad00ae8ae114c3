//! Formatting constant tables and literals as C source.

/// An unsigned C type wide enough for every value up to `max`, with its table reader.
pub(crate) fn unsigned_for(max: u64) -> (&'static str, &'static str) {
    if max <= u8::MAX as u64 {
        ("uint8_t", "RD8")
    } else if max <= u16::MAX as u64 {
        ("uint16_t", "RD16")
    } else {
        ("uint32_t", "RD32")
    }
}

/// Size in bytes of the C type `unsigned_for` names.
pub(crate) fn size_of(ty: &str) -> usize {
    match ty {
        "uint8_t" | "int8_t" => 1,
        "uint16_t" | "int16_t" => 2,
        _ => 4,
    }
}

/// A signed value as a C constant. The most negative value of a type is written as a
/// difference, because `-32768` is the negation of a constant that may not fit `int`.
pub(crate) fn signed(v: i64) -> String {
    match v {
        -32768 => "(-32767 - 1)".into(),
        -2147483648 => "(-2147483647 - 1)".into(),
        _ => v.to_string(),
    }
}

/// A constant table in flash: `static const TY NAME[N] ROM = { ... };`, 12 values a line.
///
/// ISO C has no empty arrays, so an empty table gets one unused zero.
pub(crate) fn table(ty: &str, name: &str, rom: &str, values: &[String]) -> String {
    let mut s = format!(
        "static const {ty} {name}[{}] {rom} = {{",
        values.len().max(1)
    );
    if values.is_empty() {
        s.push_str(" 0 };");
        return s;
    }
    for chunk in values.chunks(12) {
        s.push_str("\n    ");
        s.push_str(&chunk.join(", "));
        s.push(',');
    }
    s.push_str("\n};");
    s
}

/// A byte table holding `bytes` followed by a NUL, as a string literal where that is
/// portable and readable, else as numbers.
///
/// C99 compilers need only accept literals up to 4095 characters (`-pedantic` warns
/// beyond that), so longer data is written as numbers.
pub(crate) fn byte_string(ty: &str, name: &str, rom: &str, bytes: &[u8]) -> String {
    if bytes.len() <= 4095 {
        let mut lines = vec![String::new()];
        for (i, &b) in bytes.iter().enumerate() {
            let line = lines.last_mut().expect("never empty");
            match b {
                b'"' => line.push_str("\\\""),
                b'\\' => line.push_str("\\\\"),
                // Escaped so that no `??x` trigraph can form.
                b'?' => line.push_str("\\?"),
                0x20..=0x7e => line.push(b as char),
                // Always three octal digits, so a following digit is not absorbed.
                _ => line.push_str(&format!("\\{b:03o}")),
            }
            if (b == 0 || line.len() >= 64) && i + 1 < bytes.len() {
                lines.push(String::new());
            }
        }
        let body: Vec<String> = lines.iter().map(|l| format!("    \"{l}\"")).collect();
        format!(
            "static const {ty} {name}[{}] {rom} =\n{};",
            bytes.len() + 1,
            body.join("\n")
        )
    } else {
        let mut values: Vec<String> = bytes.iter().map(|b| b.to_string()).collect();
        values.push("0".into());
        table(ty, name, rom, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_everything_unsafe() {
        let t = byte_string("char", "t", "ROM", b"a\"b\\c??=\x001\xff");
        assert_eq!(
            t,
            "static const char t[12] ROM =\n    \"a\\\"b\\\\c\\?\\?=\\000\"\n    \"1\\377\";"
        );
    }

    #[test]
    fn empty_tables_stay_valid_c() {
        assert_eq!(
            table("uint8_t", "t", "ROM", &[]),
            "static const uint8_t t[1] ROM = { 0 };"
        );
        assert_eq!(
            byte_string("char", "t", "ROM", b""),
            "static const char t[1] ROM =\n    \"\";"
        );
    }

    #[test]
    fn minimum_values_avoid_overflowing_constants() {
        assert_eq!(signed(-32768), "(-32767 - 1)");
        assert_eq!(signed(-2147483648), "(-2147483647 - 1)");
        assert_eq!(signed(-5), "-5");
    }
}
