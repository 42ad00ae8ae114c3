//! The model's flash tables and SRAM buffers, as assembler directives.

use super::activation;
use super::buffer::Buffer;
use super::coding::Coding;
use super::plan::Allocation;
use crate::lowered::FusedLayer;

/// Table bytes above which a far-flash board's tables leave the low 64 KB
/// (`.progmem`, which the Arduino core and avr-libc also need) for `.text`.
pub const LOW_FLASH_TABLES: usize = 48 * 1024;

/// What goes into flash besides the layers.
pub struct Extra<'a> {
    /// Generators: a byte per class.
    pub charset: Option<&'a [u8]>,
    /// Classifiers: the labels.
    pub labels: Option<&'a [String]>,
}

/// Bytes of a layer's bias table (none when every bias is 0, or when a
/// dense layer's table holds them).
pub fn bias_bytes(l: &FusedLayer, f: Coding) -> usize {
    if f.is_dense() || l.bias.iter().all(|&v| v == 0) {
        0
    } else {
        l.rows() * l.acc_bytes()
    }
}

/// The labels as NUL-terminated strings back to back, and where each starts.
fn label_data(labels: &[String]) -> (Vec<u8>, Vec<usize>) {
    let mut text = Vec::new();
    let mut at = Vec::new();
    for l in labels {
        at.push(text.len());
        text.extend(l.bytes());
        text.push(0);
    }
    (text, at)
}

/// Bytes of every table.
pub fn table_bytes(layers: &[FusedLayer], allocation: &Allocation, extra: &Extra) -> usize {
    let mut n: usize = allocation.coded.iter().map(|s| s.bytes.len()).sum();
    n += layers
        .iter()
        .zip(&allocation.codings)
        .map(|(l, &f)| bias_bytes(l, f))
        .sum::<usize>();
    n += layers
        .iter()
        .map(activation::lut_table_bytes)
        .sum::<usize>();
    if let Some(c) = extra.charset {
        n += c.len();
    }
    if let Some(l) = extra.labels {
        let (text, at) = label_data(l);
        n += text.len() + 2 * at.len();
    }
    n
}

/// The SRAM buffers, in `.bss`.
/// `within`, when given, is a buffer free by the time the layers run that
/// holds `buf0` and `buf1` (the conv layers' scratch): they go there.
pub fn buffers(
    a: &mut Buffer,
    p: &str,
    layers: &[FusedLayer],
    allocation: &Allocation,
    within: Option<&str>,
) {
    a.section(".section .bss");
    let space = |a: &mut Buffer, name: &str, bytes: usize, what: &str| {
        if bytes > 0 {
            a.comment(what);
            a.label(format!("{p}_{name}"));
            a.directive(format!(".skip {bytes}"));
        }
    };
    let bufs = [
        ("buf0", "accumulators and outputs of layers 1, 3, ..."),
        ("buf1", "accumulators and outputs of layers 2, 4, ..."),
    ];
    match within {
        None => {
            for (k, (name, what)) in bufs.iter().enumerate() {
                space(a, name, allocation.bufs[k], what);
            }
        }
        Some(sym) => {
            let mut at = 0;
            for (k, (name, what)) in bufs.iter().enumerate() {
                a.comment(format!("{what}, in {sym}"));
                a.directive(format!(".set {p}_{name}, {sym}+{at}"));
                at += allocation.bufs[k];
            }
        }
    }
    space(a, "cnt", allocation.counts, "hash counts per bucket");
    space(
        a,
        "ctx",
        allocation.ctx_len,
        "the reply's last bytes, lower-cased",
    );
    space(
        a,
        "cache",
        allocation.cache_bytes(layers),
        "layer 1's sums over the query, kept for a reply",
    );
    space(
        a,
        "labelbuf",
        allocation.label_buf,
        "the label NAME_label returns",
    );
    if allocation.vars > 0 {
        a.comment("query pointer, hash state (pointer, two bytes, done), new-query flag");
        for (name, bytes) in [
            ("qptr", 2),
            ("qs", 2),
            ("qa", 1),
            ("qb", 1),
            ("qdone", 1),
            ("newq", 1),
        ] {
            a.label(format!("{p}_{name}"));
            a.directive(format!(".skip {bytes}"));
        }
    }
}

/// The flash tables: coded layers, biases, charset or labels.
pub fn tables(
    a: &mut Buffer,
    p: &str,
    layers: &[FusedLayer],
    allocation: &Allocation,
    extra: &Extra,
    far: bool,
) {
    if far && table_bytes(layers, allocation, extra) > LOW_FLASH_TABLES {
        a.comment("Beyond what .progmem keeps below 64 KB: read with elpm from anywhere.");
        a.section(format!(".section .text.{p}_tables,\"ax\",@progbits"));
    } else {
        a.section(".section .progmem.data,\"a\",@progbits");
    }
    let starts: Vec<usize> = allocation.text.iter().map(|t| t.words.start).collect();
    for (k, (l, s)) in layers.iter().zip(&allocation.coded).enumerate() {
        a.blank();
        let f = allocation.codings[k];
        if f.is_dense() {
            a.comment(format!(
                "Layer {}: {} x {}, {} rows in blocks of two, weights offset to unsigned, \
                 biases after each block, {} bytes.",
                k + 1,
                l.rows(),
                l.cols,
                f.name(),
                s.bytes.len()
            ));
            a.label(format!("{p}_l{k}_w"));
            byte_lines(a, &s.bytes);
            continue;
        }
        a.comment(format!(
            "Layer {}: {} x {}, {} columns{}, {} bytes.",
            k + 1,
            l.rows(),
            l.cols,
            f.name(),
            if s.wide_len { " (2-byte lengths)" } else { "" },
            s.bytes.len()
        ));
        a.label(format!("{p}_l{k}_w"));
        // Columns are written one per line group so that diffs stay local.
        for (c, &at) in s.starts.iter().enumerate() {
            if k == 0 && starts.contains(&c) {
                a.label(format!("{p}_l0_c{c}"));
            }
            let end = s.starts.get(c + 1).copied().unwrap_or(s.bytes.len());
            byte_lines(a, &s.bytes[at..end]);
        }
        if k == 0 && starts.contains(&l.cols) {
            a.label(format!("{p}_l0_c{}", l.cols));
        }
        if bias_bytes(l, f) > 0 {
            a.comment(format!("Layer {} biases, {}-bit.", k + 1, l.acc.bits()));
            a.label(format!("{p}_l{k}_bias"));
            let mut b = Vec::new();
            for &v in &l.bias {
                b.extend_from_slice(&(v as u32).to_le_bytes()[..l.acc_bytes()]);
            }
            byte_lines(a, &b);
        }
    }
    for (k, l) in layers.iter().enumerate() {
        if let Some((lo, table)) = activation::lut(l) {
            a.blank();
            a.comment(format!(
                "Layer {}'s activation: {} outputs for inputs {lo}..{}, {}.",
                k + 1,
                table.len(),
                lo as i32 + table.len() as i32 - 1,
                match activation::lut_form(table) {
                    activation::LutForm::Signed => "signed bytes",
                    activation::LutForm::Unsigned => "unsigned bytes",
                    activation::LutForm::Words => "words",
                }
            ));
            a.label(format!("{p}_l{k}_act"));
            byte_lines(a, &activation::lut_bytes(table));
        }
    }
    if let Some(c) = extra.charset {
        a.blank();
        a.comment("The byte of each class.");
        a.label(format!("{p}_charset"));
        byte_lines(a, c);
    }
    if let Some(labels) = extra.labels {
        let (text, at) = label_data(labels);
        a.blank();
        a.comment("Where each label starts in the label text.");
        a.label(format!("{p}_label_at"));
        let mut b = Vec::new();
        for v in at {
            b.extend_from_slice(&(v as u16).to_le_bytes());
        }
        byte_lines(a, &b);
        a.comment("The labels, NUL-terminated.");
        a.label(format!("{p}_label_text"));
        byte_lines(a, &text);
    }
    a.directive(".p2align 1");
}

/// `.byte` lines for `bytes`, 16 a line.
fn byte_lines(a: &mut Buffer, bytes: &[u8]) {
    for chunk in bytes.chunks(16) {
        let b: Vec<String> = chunk.iter().map(|b| format!("0x{b:02X}")).collect();
        a.directive(format!(".byte {}", b.join(",")));
    }
}
