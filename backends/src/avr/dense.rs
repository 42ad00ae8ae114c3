//! Dense row-major kernels for int8 and int4 weights, on the hardware
//! multiplier.
//!
//! A dense layer's table holds its rows in blocks of two (a last odd row
//! alone): per column the two rows' weights, then the block's biases. Weights
//! are stored offset to be unsigned — w + 128 for int8 (a byte each), w + 8
//! for int4 (a nibble each: row r low, row r + 1 high, one byte a column) — so
//! that `mul` of a weight by an input's low byte is an unsigned 16-bit product
//! that adds without sign extension; the offset comes back out once a row as
//! `offset × Σ low bytes`. Inputs with a non-zero high byte (negative or
//! above 255) add their `256 × w × high byte` in a second, rolled pass that
//! runs only when some input of the layer needs it, so every int16 input is
//! exact.
//!
//! The accumulators of a block live in registers (A = r2…, B = r6…). The
//! columns go through shared routines unrolled over 32 columns (`ldd` reaches
//! 32 int16 inputs from Y); a layer calls one per 32 columns, entering the
//! first at the column where its first, partial chunk starts.
//!
//! For an int4 pair, `mul` of the whole byte (lo + 16·hi) gives A the sum of
//! row r plus 16 × row r + 1, and `mul` of the byte masked to its high
//! nibble gives B = 16 × row r + 1: row r is A − B, row r + 1 is B / 16.

use super::buffer::Buffer;
use super::build::{dec, hex, hi, lo};
use super::coding::Coding;
use super::inst::Ptr::{XInc, X};
use super::inst::{
    Reg, R0, R1, R10, R11, R12, R13, R14, R15, R16, R17, R18, R19, R2, R20, R21, R22, R23, R24,
    R26, R27, R28, R29, R3, R4, R5, R6, R7, R8, R9,
};
use crate::lowered::FusedLayer;

/// Columns a shared chunk routine covers (`ldd` reaches Y+62).
const CHUNK: usize = 32;
/// Above this many columns a 24-bit unsigned row sum could overflow.
const MAX_24BIT_COLS: usize = 258;

/// The register accumulators of a block.
const A: [Reg; 4] = [R2, R3, R4, R5];
const B: [Reg; 4] = [R6, R7, R8, R9];
/// Kept 0 through the columns (r1 holds products there).
const ZERO: Reg = R10;
/// The layer's `offset × Σ low bytes`.
const CORR: [Reg; 4] = [R12, R13, R14, R15];

/// Whether a layer's weights all fit a nibble (int4, −8..=7).
pub fn fits_int4(l: &FusedLayer) -> bool {
    l.columns
        .iter()
        .flatten()
        .all(|&(_, w)| (-8..=7).contains(&w))
}

/// Whether a dense kernel can run a layer at all.
pub fn usable(l: &FusedLayer) -> bool {
    l.cols > 0 && l.rows() > 0 && l.cols <= 65_535
}

/// The offset that makes a coding's weights unsigned.
fn offset(f: Coding) -> i16 {
    if f == Coding::Dense4 {
        8
    } else {
        128
    }
}

/// The layer as a row-major matrix of offset (unsigned) weights.
fn offset_matrix(l: &FusedLayer, f: Coding) -> Vec<Vec<u8>> {
    let o = offset(f);
    let mut m = vec![vec![o as u8; l.cols]; l.rows()];
    for (c, col) in l.columns.iter().enumerate() {
        for &(r, w) in col {
            m[r][c] = (w as i16 + o) as u8;
        }
    }
    m
}

/// Whether the layer's table carries biases.
fn has_bias(l: &FusedLayer) -> bool {
    l.bias.iter().any(|&v| v != 0)
}

/// A dense layer's table: blocks of two rows (the last odd one alone), per
/// column the block's weights, then the block's biases.
pub fn table(l: &FusedLayer, f: Coding) -> Vec<u8> {
    let m = offset_matrix(l, f);
    let mut out = Vec::new();
    let bias = has_bias(l);
    let mut r = 0;
    while r < l.rows() {
        let next = m.get(r + 1);
        for (c, &w) in m[r].iter().enumerate() {
            match (next, f) {
                (Some(n), Coding::Dense4) => out.push(w | n[c] << 4),
                (Some(n), _) => out.extend([w, n[c]]),
                (None, _) => out.push(w),
            }
        }
        if bias {
            for row in r..(r + 2).min(l.rows()) {
                out.extend_from_slice(&(l.bias[row] as u32).to_le_bytes()[..l.acc_bytes()]);
            }
        }
        r += 2;
    }
    out
}

/// A shared column routine: rows per block, int4 pair or not, and the bytes
/// of the A and B accumulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Rows the block computes (1 or 2).
    rows: usize,
    /// Whether the two rows share a byte (int4).
    nibbles: bool,
    /// Bytes of A and B.
    wa: usize,
    wb: usize,
}

impl Chunk {
    fn label(self, j: usize) -> String {
        let kind = if self.rows == 1 {
            "1"
        } else if self.nibbles {
            "n"
        } else {
            "b"
        };
        format!(".Ldk{kind}{}{}_{j}", self.wa, self.wb)
    }

    /// Cycles of one column.
    fn column_cycles(self) -> usize {
        let add = |w: usize| 2 + usize::from(w >= 3) + usize::from(w >= 4);
        let first = 2 + 3 + 2 + add(self.wa);
        match (self.rows, self.nibbles) {
            (1, _) => first,
            (_, true) => first + 1 + 2 + add(self.wb),
            _ => first + 3 + 2 + add(self.wb),
        }
    }
}

/// Bytes of the inner accumulators: 2 for 16-bit layers, 3 while a 24-bit
/// unsigned row sum cannot overflow, else 4 (B of int4 needs 20 bits even
/// for 16-bit layers, as B / 16 is taken).
fn widths(l: &FusedLayer, f: Coding, rows: usize) -> Chunk {
    let nibbles = f == Coding::Dense4 && rows == 2;
    let wide = if l.cols > MAX_24BIT_COLS { 4 } else { 3 };
    let wa = if l.acc_bytes() == 2 { 2 } else { wide };
    let wb = match (rows, nibbles, l.acc_bytes()) {
        (1, _, _) => 0,
        (_, true, 2) => 3,
        (_, _, 2) => 2,
        _ => wide,
    };
    Chunk {
        rows,
        nibbles,
        wa,
        wb,
    }
}

/// The chunk routines a layer calls: for its pairs and its odd row.
fn chunks(l: &FusedLayer, f: Coding) -> Vec<Chunk> {
    let mut v = Vec::new();
    if l.rows() >= 2 {
        v.push(widths(l, f, 2));
    }
    if l.rows() % 2 == 1 {
        v.push(widths(l, f, 1));
    }
    v
}

/// Columns in a layer's first chunk (the partial one).
fn first_chunk(cols: usize) -> usize {
    cols - CHUNK * ((cols - 1) / CHUNK)
}

/// Predicted cycles of a dense layer on the Uno (inputs below 256; the
/// second pass for others is not counted).
pub fn predicted_cycles(l: &FusedLayer, f: Coding) -> usize {
    let n = l.cols;
    let b = l.acc_bytes();
    let calls = n.div_ceil(CHUNK);
    let bias = if has_bias(l) { 4 * b } else { 0 };
    let mut total = 40 + 13 * n;
    for ch in chunks(l, f) {
        let blocks = if ch.rows == 2 { l.rows() / 2 } else { 1 };
        let row_end = ch.rows * (b + bias + 2 * b) + if ch.nibbles { b + 4 * ch.wb } else { 0 };
        total += blocks * (12 + calls * 9 + n * ch.column_cycles() + row_end);
    }
    total
}

/// Predicted cycles of a dense layer's second pass on the Uno (what an input
/// outside 0..=255 adds): per block of rows, every column again with the
/// signed weights, rolled.
pub fn high_pass_cycles(l: &FusedLayer, f: Coding) -> usize {
    let n = l.cols;
    let b = l.acc_bytes();
    let hw = b - 1;
    // `signed_add`: the sign byte for 3 bytes and up, then one add a byte.
    let add = hw + if hw >= 3 { 3 } else { 0 };
    let mut total = 10;
    for ch in chunks(l, f) {
        let blocks = if ch.rows == 2 { l.rows() / 2 } else { 1 };
        // ldd, adiw, lpm, subi, muls, the add; the loop's count.
        let mut column = 2 + 2 + 3 + 1 + 2 + add + 4;
        if ch.rows == 2 {
            column += if ch.nibbles { 4 } else { 3 } + 1 + 2 + add;
        }
        let bias = if has_bias(l) { 3 * ch.rows * b } else { 0 };
        let block = 8 + n * column + bias + ch.rows * (2 + 5 * hw) + 4;
        total += 2 + blocks * block;
    }
    total
}

/// Predicted bytes of a layer's own code (the shared routines not counted).
pub fn layer_code_bytes(l: &FusedLayer, f: Coding) -> usize {
    let calls = n_calls(l);
    let per_block = 40 + 2 * calls + if f == Coding::Dense4 { 24 } else { 0 };
    160 + chunks(l, f).len() * per_block
}

fn n_calls(l: &FusedLayer) -> usize {
    l.cols.div_ceil(CHUNK)
}

/// The shared routines `layers` (with their codings) need, each with the
/// first column any layer enters it at.
pub fn routines(layers: &[FusedLayer], codings: &[Coding]) -> Vec<(Chunk, usize)> {
    let mut used: Vec<(Chunk, usize)> = Vec::new();
    for (l, &f) in layers.iter().zip(codings) {
        if !f.is_dense() {
            continue;
        }
        let entry = if l.cols > CHUNK {
            0
        } else {
            CHUNK - first_chunk(l.cols)
        };
        for ch in chunks(l, f) {
            match used.iter_mut().find(|u| u.0 == ch) {
                Some(u) => u.1 = u.1.min(entry),
                None => used.push((ch, entry)),
            }
        }
    }
    used
}

/// Add the unsigned (`signed`: signed) product r1:r0 to the `w`-byte
/// accumulator `acc`; a signed one needs its sign in `sign` first.
fn add_product(a: &mut Buffer, acc: [Reg; 4], w: usize, sign: Option<Reg>) {
    a.add(acc[0], R0);
    if w >= 2 {
        a.adc(acc[1], R1);
    }
    for r in acc.iter().take(w).skip(2) {
        a.adc(*r, sign.unwrap_or(ZERO));
    }
}

/// Emit the shared column routines.
pub fn emit_routines(a: &mut Buffer, used: &[(Chunk, usize)], far: bool) {
    for &(ch, first) in used {
        a.comment(format!(
            "Dense columns, {} row{} a block{}: x = low byte of the int16 at Y+2j;",
            ch.rows,
            if ch.rows == 2 { "s" } else { "" },
            if ch.nibbles {
                ", two nibbles a byte"
            } else {
                ""
            },
        ));
        a.comment("A (r2..) and B (r6..) add w'*x; enter at column j, Y moves on 32 inputs.");
        for j in first..CHUNK {
            a.label(ch.label(j));
            a.ldd(R16, 2 * j as u8);
            a.lpm(far, R17, true);
            a.mul(R17, R16);
            add_product(a, A, ch.wa, None);
            if ch.rows == 2 {
                if ch.nibbles {
                    a.andi(R17, hex(0xF0));
                } else {
                    a.lpm(far, R17, true);
                }
                a.mul(R17, R16);
                add_product(a, B, ch.wb, None);
            }
        }
        a.subi(R28, hex(0xC0));
        a.sbci(R29, hex(0xFF));
        a.ret();
    }
}

/// What a dense layer's code needs to know.
pub struct DenseLayer<'a> {
    /// The layer.
    pub l: &'a FusedLayer,
    /// Its coding (Dense8 or Dense4).
    pub f: Coding,
    /// Label tag unique to the layer.
    pub tag: String,
    /// Whether tables are read with `elpm`.
    pub far: bool,
}

impl DenseLayer<'_> {
    /// `r18:r19 = n` for a loop that [`Self::loop_end`] closes.
    fn count(a: &mut Buffer, n: usize) {
        a.ldi(R18, lo(n as u32));
        a.ldi(R19, hi(n as u32));
    }

    fn loop_end(a: &mut Buffer, label: &str) {
        a.subi(R18, dec(1));
        a.sbci(R19, dec(0));
        a.brne(label);
    }

    /// The layer on the int16 inputs at X into the accumulators at `out`;
    /// `load_z` points Z at the table. Leaves r1 = 0; clobbers r0–r29 (and Z).
    pub fn emit(&self, a: &mut Buffer, out: &str, load_z: &dyn Fn(&mut Buffer)) {
        let (l, t) = (self.l, &self.tag);
        let n = l.cols;
        a.comment("Sum of the inputs' low bytes (r12..) and OR of their high bytes (r20).");
        a.movw(R24, R26);
        a.clr(ZERO);
        a.clr(R11);
        for r in CORR {
            a.clr(r);
        }
        a.clr(R20);
        Self::count(a, n);
        let sum = format!(".Ld{t}_sum");
        a.label(&sum);
        a.ld(R16, XInc);
        a.add(CORR[0], R16);
        a.adc(CORR[1], ZERO);
        a.adc(CORR[2], ZERO);
        a.ld(R16, XInc);
        a.or(R20, R16);
        Self::loop_end(a, &sum);
        if self.f == Coding::Dense4 {
            a.comment("The weights' offset: 8 x the sum.");
            for _ in 0..3 {
                a.lsl(CORR[0]);
                a.rol(CORR[1]);
                a.rol(CORR[2]);
                a.rol(CORR[3]);
            }
        } else {
            a.comment("The weights' offset: 128 x the sum.");
            a.mov(CORR[3], CORR[2]);
            a.mov(CORR[2], CORR[1]);
            a.mov(CORR[1], CORR[0]);
            a.clr(CORR[0]);
            a.lsr(CORR[3]);
            a.ror(CORR[2]);
            a.ror(CORR[1]);
            a.ror(CORR[0]);
        }
        self.for_blocks(a, out, load_z, "r", &|a, ch| self.block(a, ch));
        a.tst(R20);
        let end = format!(".Ld{t}_end");
        a.breq(&end);
        self.high_pass(a, out, load_z);
        a.label(&end);
    }

    /// One block of `ch.rows` rows: the columns, then the rows out at X.
    fn block(&self, a: &mut Buffer, ch: Chunk) {
        let l = self.l;
        let b = l.acc_bytes();
        for r in [R2, R4, R6, R8] {
            a.movw(r, ZERO);
        }
        a.movw(R28, R24);
        let first = first_chunk(l.cols);
        if first < CHUNK {
            a.sbiw(R28, (2 * (CHUNK - first)) as u8);
        }
        a.rcall(ch.label(CHUNK - first));
        for _ in 1..n_calls(l) {
            a.rcall(ch.label(0));
        }
        a.clr(R1);
        if ch.nibbles {
            a.comment("Row r = A - B, row r+1 = B / 16.");
            sub(a, A, B, b);
            for _ in 0..4 {
                a.lsr(B[ch.wb - 1]);
                for k in (0..ch.wb - 1).rev() {
                    a.ror(B[k]);
                }
            }
        }
        self.row_out(a, A, b);
        if ch.rows == 2 {
            self.row_out(a, B, b);
        }
    }

    /// acc − offset × Σ + bias (from the table at Z), stored at X+.
    fn row_out(&self, a: &mut Buffer, acc: [Reg; 4], b: usize) {
        sub(a, acc, CORR, b);
        if has_bias(self.l) {
            for (k, &r) in acc.iter().enumerate().take(b) {
                a.lpm(self.far, R21, true);
                if k == 0 {
                    a.add(r, R21);
                } else {
                    a.adc(r, R21);
                }
            }
        }
        for r in acc.iter().take(b) {
            a.st(XInc, *r);
        }
    }

    /// The second pass: `acc += 256 × Σ w × high byte` with the true signed
    /// weights, rolled (it runs only for inputs outside 0..=255).
    fn high_pass(&self, a: &mut Buffer, out: &str, load_z: &dyn Fn(&mut Buffer)) {
        let (l, t) = (self.l, &self.tag);
        let b = l.acc_bytes();
        // The high byte's weight sum matters mod 2^(8 * (b - 1)).
        let hw = b - 1;
        a.comment("Inputs outside 0..255: add 256 x w x (high byte) with the signed weights.");
        self.for_blocks(a, out, load_z, "h", &|a, ch| {
            for r in [R2, R4, R6, R8] {
                a.movw(r, ZERO);
            }
            a.movw(R28, R24);
            a.ldi(R22, lo(l.cols as u32));
            a.ldi(R23, hi(l.cols as u32));
            let col = format!(".Ld{t}_hc{}", ch.rows);
            a.label(&col);
            a.ldd(R16, 1);
            a.adiw(R28, 2);
            a.lpm(self.far, R17, true);
            let w2 = if ch.rows == 1 {
                None
            } else if ch.nibbles {
                a.mov(R20, R17);
                a.swap(R20);
                a.andi(R20, hex(0x0F));
                a.andi(R17, hex(0x0F));
                Some(R20)
            } else {
                None
            };
            let off = if self.f == Coding::Dense4 { 8 } else { 0x80 };
            a.subi(R17, hex(off));
            a.muls(R17, R16);
            signed_add(a, A, hw);
            if ch.rows == 2 {
                let w = match w2 {
                    Some(r) => r,
                    None => {
                        a.lpm(self.far, R17, true);
                        R17
                    }
                };
                a.subi(w, hex(off));
                a.muls(w, R16);
                signed_add(a, B, hw);
            }
            a.subi(R22, dec(1));
            a.sbci(R23, dec(0));
            a.brne(&col);
            a.clr(R1);
            if has_bias(l) {
                for _ in 0..ch.rows * b {
                    a.lpm(self.far, R0, true);
                }
            }
            add_shifted(a, A, hw);
            if ch.rows == 2 {
                add_shifted(a, B, hw);
            }
        });
    }

    /// Point X at `out` and Z at the table, then `body` once per block: a
    /// loop over the pairs, then the odd row (labels `.Ld{tag}_{kind}{rows}`).
    fn for_blocks(
        &self,
        a: &mut Buffer,
        out: &str,
        load_z: &dyn Fn(&mut Buffer),
        kind: &str,
        body: &dyn Fn(&mut Buffer, Chunk),
    ) {
        a.ldi(R26, super::build::lo8(out));
        a.ldi(R27, super::build::hi8(out));
        load_z(a);
        for ch in chunks(self.l, self.f) {
            let label = format!(".Ld{}_{kind}{}", self.tag, ch.rows);
            if ch.rows == 2 {
                Self::count(a, self.l.rows() / 2);
            }
            a.label(&label);
            body(a, ch);
            if ch.rows == 2 {
                Self::loop_end(a, &label);
            }
        }
    }
}

/// `acc -= by` over `b` bytes.
fn sub(a: &mut Buffer, acc: [Reg; 4], by: [Reg; 4], b: usize) {
    for k in 0..b {
        if k == 0 {
            a.sub(acc[k], by[k]);
        } else {
            a.sbc(acc[k], by[k]);
        }
    }
}

/// Add the signed product r1:r0 to the `w`-byte accumulator (mod 2^(8w)).
fn signed_add(a: &mut Buffer, acc: [Reg; 4], w: usize) {
    if w >= 3 {
        a.mov(R21, R1);
        a.lsl(R21);
        a.sbc(R21, R21);
    }
    add_product(a, acc, w, Some(R21));
}

/// The accumulator at X (`w + 1` bytes) += `acc` (w bytes) << 8; X moves on.
fn add_shifted(a: &mut Buffer, acc: [Reg; 4], w: usize) {
    a.adiw(R26, 1);
    for (k, r) in acc.iter().enumerate().take(w) {
        a.ld(R21, X);
        if k == 0 {
            a.add(R21, *r);
        } else {
            a.adc(R21, *r);
        }
        a.st(XInc, R21);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zlmc_ir::Elem;

    fn layer(rows: usize, cols: usize, w: &[i8]) -> FusedLayer {
        let mut columns = vec![Vec::new(); cols];
        for r in 0..rows {
            for c in 0..cols {
                let v = w[r * cols + c];
                if v != 0 {
                    columns[c].push((r, v));
                }
            }
        }
        FusedLayer {
            cols,
            columns,
            acc: Elem::I16,
            bias: vec![0; rows],
            shift: 0,
            activation: None,
        }
    }

    #[test]
    fn int8_pairs_then_the_odd_row() {
        let l = layer(3, 2, &[1, -1, 127, -128, 0, 5]);
        assert_eq!(table(&l, Coding::Dense8), vec![129, 255, 127, 0, 128, 133]);
    }

    #[test]
    fn int4_two_rows_a_byte() {
        let l = layer(2, 2, &[-8, 7, 0, -1]);
        assert_eq!(table(&l, Coding::Dense4), vec![0x80, 0x7F]);
    }
}
