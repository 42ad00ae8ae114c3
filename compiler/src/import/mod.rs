//! Reading models other tools wrote: a z80ai export becomes a spec for its
//! weights ([`z80ai`]), an ONNX graph a float model that [`crate::quant`]
//! quantizes ([`onnx`]). Both name the model after a file with
//! [`identifier_from`].

pub mod onnx;
pub mod z80ai;

/// `text` made into a C identifier for a model name: lower-case letters,
/// digits and `_`, prefixed with `m_` where it would not start like one.
pub fn identifier_from(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert_str(0, "m_");
    }
    s
}
