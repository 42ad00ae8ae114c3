//! Inference code for the Z80: column-scatter sparse matmuls over the non-zero
//! inputs only, so zero weights, zero activations and dead neurons cost nothing.
//!
//! Layout (see `docs/z80.md` for the reasons):
//! - every layer has its own accumulators in two page-aligned buffers, low
//!   bytes in one page and high bytes in the next, so a row index is just `l`;
//!   they hold the bias when a step starts, because the epilogue that reads a
//!   row puts the bias back for the next step;
//! - every input column has a record: its +1 rows and its −1 rows as byte
//!   lists (a weight w > 1 or w < −1 appears |w| times), each with the address
//!   in the scatter loop where it starts (see `scatter_routines`), so the inner
//!   loop pops two row indices at a time and a column costs no count arithmetic;
//! - the records are packed into the program as nibble-coded row gaps
//!   (`blob`) and unpacked in place by `model_init`, which also builds a table
//!   of their addresses (low and high bytes in two pages), so a column's
//!   record is found from its index in a few instructions;
//! - layer 1 scans the input and scatters each non-zero word's column; every
//!   later layer's column is scattered by the previous layer's epilogue the
//!   moment that unit comes out non-zero, so no list of active units is kept.
//!
//! The stack pointer reads the records inside a step, so a step runs with
//! interrupts disabled and restores the caller's interrupt state before it returns.

use crate::layers::Layer;
use zlmc_ir::Elem;

/// Where the model's buffers go, below the stack (all in RAM above the program).
#[derive(Debug, Clone)]
pub struct Memory {
    /// Top of the stack (the program sets SP here).
    pub stack_top: u16,
    /// Per layer: low-byte accumulator page (high bytes in the next page).
    pub acc: Vec<u16>,
    /// Per layer: page of record address low bytes (high bytes in the next page).
    pub recs: Vec<u16>,
    /// Step variables.
    pub vars: u16,
    /// Last layer's outputs, int16 each.
    pub zout: u16,
    /// The query's active list: its non-zero buckets, for `model_query`'s part.
    pub act: u16,
    /// Layer 1's sums over the query, kept for a reply (see `Split`).
    pub cache: u16,
    /// The input vector.
    pub zin: u16,
}

/// Plan the buffers for `layers` fed by an input of `zin_len` words.
pub fn plan_memory(layers: &[Layer], zin_len: usize) -> Memory {
    let stack_top: u16 = 0xDC00;
    let mut next = stack_top - 0x100;
    let mut pages = |n: u16| {
        next -= n * 0x100;
        next
    };
    let acc = layers.iter().map(|_| pages(2)).collect();
    let recs = layers.iter().map(|_| pages(2)).collect();
    let vars = pages(1);
    let last_rows = layers.last().map(Layer::rows).unwrap_or(1) as u16;
    let zout = vars - 2 * last_rows;
    let act_len = 4 * 257;
    let act0 = zout - act_len;
    let cache = act0 - 2 * layers.first().map(Layer::rows).unwrap_or(1) as u16;
    let zin = (cache - 2 * zin_len as u16) & 0xFF00;
    Memory {
        stack_top,
        acc,
        recs,
        vars,
        zout,
        act: act0,
        cache,
        zin,
    }
}

/// The lowest address the model's buffers use: the program must end below it.
pub fn buffers_start(m: &Memory) -> u16 {
    m.zin
}

fn w(s: &mut String, line: &str) {
    s.push_str(line);
    s.push('\n');
}

/// Signed weights expanded into unit entries for one column: (plus rows, minus rows).
fn unit_lists(col: &[(usize, i8)]) -> (Vec<u8>, Vec<u8>) {
    let (mut plus, mut minus) = (Vec::new(), Vec::new());
    for &(r, v) in col {
        let list = if v > 0 { &mut plus } else { &mut minus };
        for _ in 0..v.unsigned_abs() {
            list.push(r as u8);
        }
    }
    (plus, minus)
}

/// Why the layers do not fit this layout, if they do not.
pub fn check_layers(layers: &[Layer], zin_len: usize) -> Result<(), String> {
    if zin_len > 256 {
        return Err(format!(
            "the input has {zin_len} elements; the Z80 layout takes at most 256"
        ));
    }
    for (i, l) in layers.iter().enumerate() {
        if l.acc != Elem::I16 {
            return Err("the Z80 backend supports 16-bit accumulators only".into());
        }
        if l.rows() > 255 || l.cols > 256 {
            return Err(format!(
                "layer {} is {}x{}; the Z80 layout holds at most 255 units and 256 inputs per layer (the dead-neurons pass may bring it down)",
                i + 1,
                l.rows(),
                l.cols
            ));
        }
        for (j, c) in l.columns.iter().enumerate() {
            let (p, m) = unit_lists(c);
            if p.len() > 255 || m.len() > 255 {
                return Err(format!(
                    "layer {} column {j} has more than 255 unit weights of one sign (a weight of 2 counts twice)",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// Where a chat model's query and context buckets sit in the input, as
/// (first word, words). With both, layer 1 adds the query's columns once per
/// reply (the query does not change within a reply) and keeps the result as
/// the starting point of every step of that reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The query trigram buckets.
    pub query: (usize, usize),
    /// The context n-gram buckets.
    pub context: (usize, usize),
}

/// Why layer 1's query columns do not fit the nibble coding, if they do not.
pub fn check_split(layer: &Layer, sp: Split) -> Result<(), String> {
    for (j, c) in layer.columns[sp.query.0..sp.query.0 + sp.query.1]
        .iter()
        .enumerate()
    {
        let (p, m) = unit_lists(c);
        if nibbles(&p).len() > 255 || nibbles(&m).len() > 255 {
            return Err(format!(
                "layer 1 query column {j} needs more than 255 row gaps of one sign"
            ));
        }
    }
    Ok(())
}

/// The model's code and tables: `model_init`, `model_query`, `model_step` and
/// everything they use.
pub fn model_asm(
    layers: &[Layer],
    mem: &Memory,
    zin_len: usize,
    split: Option<Split>,
    blob: &Blob,
) -> String {
    let mut s = String::new();
    let v = mem.vars;
    let (zsp, ziff, zactp, zbhi, zblo, zcls) = (v, v + 2, v + 4, v + 6, v + 7, v + 8);
    let znewq = v + 9;
    w(
        &mut s,
        "; ---- model_query: the query part of zin changed (a new reply starts) ----",
    );
    w(&mut s, "model_query:");
    if split.is_some() {
        w(&mut s, "    ld a,1");
        w(&mut s, &format!("    ld (0x{znewq:04x}),a"));
    }
    w(&mut s, "    ret");
    let page = |a: u16| a >> 8;
    w(
        &mut s,
        "; ---- model_step: one inference step on zin; returns the class in a ----",
    );
    w(&mut s, "model_step:");
    w(&mut s, &format!("    ld (0x{zsp:04x}),sp"));
    w(&mut s, "    ld a,i");
    w(&mut s, "    di");
    w(&mut s, "    ld a,0");
    w(&mut s, "    jp po,ms_wasdi");
    w(&mut s, "    inc a");
    w(&mut s, "ms_wasdi:");
    w(&mut s, &format!("    ld (0x{ziff:04x}),a"));
    // Programs that include this code call model_init first; a forgotten
    // call costs one slow step instead of wrong answers.
    w(&mut s, "    ld a,(ms_ready)");
    w(&mut s, "    or a");
    w(&mut s, "    call z,model_init");
    match split {
        None => scan_scatter(&mut s, "ms", (0, zin_len), mem, v + 13),
        Some(sp) => {
            // A new query: layer 1 restarts from the bias, takes in the
            // query's columns, and keeps the sums for the whole reply.
            w(&mut s, &format!("    ld a,(0x{znewq:04x})"));
            w(&mut s, "    or a");
            w(&mut s, "    jp z,ms_ctx");
            w(&mut s, "    xor a");
            w(&mut s, &format!("    ld (0x{znewq:04x}),a"));
            w(&mut s, "    ld hl,l0_bias");
            w(&mut s, &format!("    ld de,0x{:04x}", mem.acc[0]));
            w(&mut s, &format!("    ld b,{}", layers[0].rows()));
            w(&mut s, "    call mi_bias");
            scan(&mut s, "mq", sp.query.0, sp.query.1, mem.act, zactp);
            query_phase(&mut s, mem);
            w(&mut s, "ms_qdone:");
            w(&mut s, &format!("    ld hl,0x{:04x}", mem.acc[0]));
            w(&mut s, &format!("    ld de,0x{:04x}", mem.cache));
            w(&mut s, &format!("    ld b,{}", layers[0].rows()));
            w(&mut s, "ms_keep:");
            w(&mut s, "    ld a,(hl)");
            w(&mut s, "    ld (de),a");
            w(&mut s, "    inc de");
            w(&mut s, "    inc h");
            w(&mut s, "    ld a,(hl)");
            w(&mut s, "    ld (de),a");
            w(&mut s, "    inc de");
            w(&mut s, "    dec h");
            w(&mut s, "    inc l");
            w(&mut s, "    djnz ms_keep");
            w(&mut s, "ms_ctx:");
            scan_scatter(&mut s, "mc", sp.context, mem, v + 13);
        }
    }
    let last = layers.len() - 1;
    let (zbp, zx) = (v + 11, v + 13);
    for (k, l) in layers.iter().enumerate() {
        let rows = l.rows();
        w(
            &mut s,
            &format!(
                "; ---- layer {} epilogue: {} units{} ----",
                k + 1,
                rows,
                if k == last {
                    ", argmax"
                } else {
                    ", each one scattered into the next layer at once"
                }
            ),
        );
        w(&mut s, &format!("l{k}_ep:"));
        let bias = if k == 0 && split.is_some() {
            format!("0x{:04x}", mem.cache)
        } else {
            format!("l{k}_bias")
        };
        if k == last {
            last_epilogue(&mut s, l, k, mem, &bias, (zbhi, zblo, zcls));
            continue;
        }
        // The scatter runs in the main registers with h = the next layer's
        // accumulator page; this loop runs in the alternate set.
        w(&mut s, &format!("    ld h,{}", page(mem.acc[k + 1])));
        w(&mut s, &format!("    ld iy,l{k}_resume"));
        w(&mut s, "    exx");
        w(&mut s, &format!("    ld sp,{bias}"));
        w(&mut s, &format!("    ld hl,0x{:04x}", mem.acc[k]));
        w(&mut s, &format!("    ld b,{rows}"));
        w(&mut s, &format!("l{k}_eplp:"));
        read_row(&mut s);
        if l.relu {
            w(&mut s, "    or a");
            w(&mut s, &format!("    jp m,l{k}_epnext"));
        }
        shift_ac(&mut s, l.shift);
        // a:c is the unit's output, the next layer's input x. Common case
        // 1 <= x <= 255: only c crosses over to the scatter, in a.
        w(&mut s, "    or a");
        w(&mut s, &format!("    jp nz,l{k}_big"));
        w(&mut s, "    or c");
        w(&mut s, &format!("    jr z,l{k}_epnext"));
        w(&mut s, &format!("    ld (0x{zbp:04x}),sp"));
        record_sp(&mut s, page(mem.recs[k + 1]));
        w(&mut s, "    ld a,c");
        w(&mut s, "    exx");
        w(&mut s, "    ld c,a");
        w(&mut s, "    jp zs_pos");
        w(&mut s, &format!("l{k}_resume:"));
        w(&mut s, "    exx");
        w(&mut s, &format!("    ld sp,(0x{zbp:04x})"));
        w(&mut s, &format!("l{k}_epnext:"));
        w(&mut s, "    inc l");
        w(&mut s, &format!("    djnz l{k}_eplp"));
        w(&mut s, "    exx");
        w(&mut s, &format!("    jp l{}_ep", k + 1));
        // Any other x: through memory, and the general dispatch.
        w(&mut s, &format!("l{k}_big:"));
        w(&mut s, &format!("    ld (0x{:04x}),a", zx + 1));
        w(&mut s, "    ld a,c");
        w(&mut s, &format!("    ld (0x{zx:04x}),a"));
        w(&mut s, &format!("    ld (0x{zbp:04x}),sp"));
        record_sp(&mut s, page(mem.recs[k + 1]));
        w(&mut s, "    exx");
        w(&mut s, &format!("    ld de,(0x{zx:04x})"));
        dispatch_de(&mut s);
    }
    w(
        &mut s,
        "; ---- back to the caller, interrupts as they were ----",
    );
    w(&mut s, &format!("    ld sp,(0x{zsp:04x})"));
    w(&mut s, &format!("    ld a,(0x{ziff:04x})"));
    w(&mut s, "    or a");
    w(&mut s, "    jr z,ms_noei");
    w(&mut s, "    ei");
    w(&mut s, "ms_noei:");
    w(&mut s, &format!("    ld a,(0x{zcls:04x})"));
    w(&mut s, "    ret");
    init_routine(&mut s, layers, mem, split, znewq, blob);
    scatter_routines(&mut s);
    tables(&mut s, layers, split);
    s
}

/// Layer 1's input scan: each non-zero word of `zin[first .. first + count]`
/// has its column scattered at once, the scan running in the alternate set.
fn scan_scatter(s: &mut String, tag: &str, (first, count): (usize, usize), mem: &Memory, zx: u16) {
    let recs = mem.recs[0] >> 8;
    w(s, &format!("    ld h,{}", mem.acc[0] >> 8));
    w(s, &format!("    ld iy,{tag}_resume"));
    w(s, "    exx");
    w(s, &format!("    ld hl,zin+{}", 2 * first));
    w(s, &format!("    ld b,{}", count % 256));
    w(s, &format!("    ld c,{first}"));
    w(s, &format!("{tag}_scan:"));
    w(s, "    ld a,(hl)");
    w(s, "    inc hl");
    w(s, "    or (hl)");
    w(s, "    inc hl");
    w(s, &format!("    jr nz,{tag}_found"));
    w(s, &format!("{tag}_next:"));
    w(s, "    inc c");
    w(s, &format!("    djnz {tag}_scan"));
    w(s, "    exx");
    w(s, "    jp l0_ep");
    w(s, &format!("{tag}_found:"));
    w(s, "    dec hl");
    w(s, "    ld a,(hl)");
    w(s, "    dec hl");
    w(s, "    or a");
    w(s, &format!("    jr nz,{tag}_big"));
    w(s, "    ld a,(hl)");
    w(s, "    inc hl");
    w(s, "    inc hl");
    w(s, "    ex af,af'");
    column_sp(s, "c", recs);
    w(s, "    ex af,af'");
    w(s, "    exx");
    w(s, "    ld c,a");
    w(s, "    jp zs_pos");
    w(s, &format!("{tag}_resume:"));
    w(s, "    exx");
    w(s, &format!("    jr {tag}_next"));
    w(s, &format!("{tag}_big:"));
    w(s, &format!("    ld (0x{:04x}),a", zx + 1));
    w(s, "    ld a,(hl)");
    w(s, &format!("    ld (0x{zx:04x}),a"));
    w(s, "    inc hl");
    w(s, "    inc hl");
    column_sp(s, "c", recs);
    w(s, "    exx");
    w(s, &format!("    ld de,(0x{zx:04x})"));
    dispatch_de(s);
}

/// Read the row at hl (alternate set) into a:c and put its bias, popped, back.
fn read_row(s: &mut String) {
    w(s, "    pop de");
    w(s, "    ld a,(hl)");
    w(s, "    ld (hl),e");
    w(s, "    inc h");
    w(s, "    ld c,a");
    w(s, "    ld a,(hl)");
    w(s, "    ld (hl),d");
    w(s, "    dec h");
}

/// SP = the record of column l in the next layer (table page `recs`); hl kept.
fn record_sp(s: &mut String, recs: u16) {
    column_sp(s, "l", recs);
}

/// SP = the record of column `reg` (table page `recs`); hl kept, de and a not.
fn column_sp(s: &mut String, reg: &str, recs: u16) {
    w(s, &format!("    ld e,{reg}"));
    w(s, &format!("    ld d,{recs}"));
    w(s, "    ld a,(de)");
    w(s, "    inc d");
    w(s, "    ex de,hl");
    w(s, "    ld h,(hl)");
    w(s, "    ld l,a");
    w(s, "    ld sp,hl");
    w(s, "    ex de,hl");
}

/// Jump to the scatter routine for x = de (SP at the record, h = accumulator page).
fn dispatch_de(s: &mut String) {
    w(s, "    ld a,d");
    w(s, "    or a");
    w(s, "    jp nz,zs_gen");
    w(s, "    ld c,e");
    w(s, "    jp zs_pos");
}

/// The last layer's epilogue: outputs to zout, and the first maximum's index.
fn last_epilogue(
    s: &mut String,
    l: &Layer,
    k: usize,
    mem: &Memory,
    bias: &str,
    vars: (u16, u16, u16),
) {
    let (zbhi, zblo, zcls) = vars;
    w(s, &format!("    ld sp,{bias}"));
    w(s, &format!("    ld hl,0x{:04x}", mem.acc[k]));
    w(s, &format!("    ld ix,0x{:04x}", mem.zout));
    w(s, "    xor a");
    w(s, &format!("    ld (0x{zbhi:04x}),a"));
    w(s, &format!("    ld (0x{zblo:04x}),a"));
    w(s, &format!("    ld (0x{zcls:04x}),a"));
    w(s, &format!("    ld b,{}", l.rows()));
    w(s, &format!("l{k}_eplp:"));
    read_row(s);
    if l.relu {
        w(s, "    or a");
        w(s, &format!("    jp p,l{k}_pos"));
        w(s, "    xor a");
        w(s, "    ld c,a");
        w(s, &format!("l{k}_pos:"));
    }
    shift_ac(s, l.shift);
    w(s, "    ld (ix+0),c");
    w(s, "    ld (ix+1),a");
    w(s, "    inc ix");
    w(s, "    inc ix");
    w(s, "    xor 128");
    w(s, "    ld d,a");
    w(s, &format!("    ld a,(0x{zbhi:04x})"));
    w(s, "    cp d");
    w(s, &format!("    jr c,l{k}_better"));
    w(s, &format!("    jr nz,l{k}_epnext"));
    w(s, &format!("    ld a,(0x{zblo:04x})"));
    w(s, "    cp c");
    w(s, &format!("    jr nc,l{k}_epnext"));
    w(s, &format!("l{k}_better:"));
    w(s, "    ld a,d");
    w(s, &format!("    ld (0x{zbhi:04x}),a"));
    w(s, "    ld a,c");
    w(s, &format!("    ld (0x{zblo:04x}),a"));
    w(s, "    ld a,l");
    w(s, &format!("    ld (0x{zcls:04x}),a"));
    w(s, &format!("l{k}_epnext:"));
    w(s, "    inc l");
    w(s, "    dec b");
    w(s, &format!("    jp nz,l{k}_eplp"));
}

/// The non-zero words of `zin[first .. first + count]` become an active list at `dst`.
fn scan(s: &mut String, tag: &str, first: usize, count: usize, dst: u16, zactp: u16) {
    w(s, &format!("    ld hl,zin+{}", 2 * first));
    w(s, &format!("    ld ix,0x{dst:04x}"));
    w(s, &format!("    ld b,{}", count % 256));
    w(s, &format!("    ld c,{first}"));
    w(s, &format!("{tag}_scan:"));
    w(s, "    ld a,(hl)");
    w(s, "    inc hl");
    w(s, "    or (hl)");
    w(s, "    inc hl");
    w(s, &format!("    jr nz,{tag}_found"));
    w(s, &format!("{tag}_next:"));
    w(s, "    inc c");
    w(s, &format!("    djnz {tag}_scan"));
    w(s, &format!("    jr {tag}_scanned"));
    w(s, &format!("{tag}_found:"));
    w(s, "    ld (ix+0),c");
    w(s, "    ld (ix+1),0");
    w(s, "    dec hl");
    w(s, "    ld a,(hl)");
    w(s, "    ld (ix+3),a");
    w(s, "    dec hl");
    w(s, "    ld a,(hl)");
    w(s, "    ld (ix+2),a");
    w(s, "    inc hl");
    w(s, "    inc hl");
    w(s, "    ld de,4");
    w(s, "    add ix,de");
    w(s, &format!("    jr {tag}_next"));
    w(s, &format!("{tag}_scanned:"));
    w(s, "    ld (ix+1),255");
    w(s, &format!("    ld hl,0x{dst:04x}"));
    w(s, &format!("    ld (0x{zactp:04x}),hl"));
}

/// First step only: accumulators get their biases, and the record address tables are built.
fn init_routine(
    s: &mut String,
    layers: &[Layer],
    mem: &Memory,
    split: Option<Split>,
    znewq: u16,
    blob: &Blob,
) {
    w(
        s,
        "; ---- model_init: biases into the accumulators, records unpacked, their tables built ----",
    );
    w(s, "model_init:");
    // Once only: the packed records are gone after the first call.
    w(s, "    ld a,(ms_ready)");
    w(s, "    or a");
    w(s, "    ret nz");
    for (k, l) in layers.iter().enumerate() {
        w(s, &format!("    ld hl,l{k}_bias"));
        w(s, &format!("    ld de,0x{:04x}", mem.acc[k]));
        w(s, &format!("    ld b,{}", l.rows()));
        w(s, "    call mi_bias");
        if let (0, Some(sp)) = (k, split) {
            w(s, "    ld hl,l0_qrecs");
            w(
                s,
                &format!("    ld de,0x{:04x}", mem.recs[0] + sp.query.0 as u16),
            );
            w(s, &format!("    ld b,{}", sp.query.1 % 256));
            w(s, "    call mi_qrecs");
        }
    }
    unpack(s, layers, mem, split, blob);
    w(s, "    ld a,1");
    w(s, "    ld (ms_ready),a");
    if split.is_some() {
        w(s, &format!("    ld (0x{znewq:04x}),a"));
    }
    w(s, "    ret");
    unpack_routines(s);
    // hl: words (biases, record addresses), de: low-byte page, b: how many.
    w(s, "mi_bias:");
    w(s, "    ld a,(hl)");
    w(s, "    ld (de),a");
    w(s, "    inc hl");
    w(s, "    inc d");
    w(s, "    ld a,(hl)");
    w(s, "    ld (de),a");
    w(s, "    inc hl");
    w(s, "    dec d");
    w(s, "    inc e");
    w(s, "    djnz mi_bias");
    w(s, "    ret");
    if split.is_some() {
        // hl: first nibble record, de: table slot, b: columns; a record is
        // 2 + ceil(p/2) + ceil(m/2) bytes.
        w(s, "mi_qrecs:");
        w(s, "    ld a,l");
        w(s, "    ld (de),a");
        w(s, "    inc d");
        w(s, "    ld a,h");
        w(s, "    ld (de),a");
        w(s, "    dec d");
        w(s, "    inc e");
        w(s, "    push bc");
        w(s, "    ld a,(hl)");
        w(s, "    inc hl");
        w(s, "    add a,1");
        w(s, "    rra");
        w(s, "    ld c,a");
        w(s, "    ld a,(hl)");
        w(s, "    inc hl");
        w(s, "    add a,1");
        w(s, "    rra");
        w(s, "    add a,c");
        w(s, "    ld c,a");
        w(s, "    ld b,0");
        w(s, "    rl b");
        w(s, "    add hl,bc");
        w(s, "    pop bc");
        w(s, "    djnz mi_qrecs");
        w(s, "    ret");
    }
    w(s, "ms_ready:");
    w(s, "    db 0");
}

/// `model_init`'s last part: move the packed records up by the slack and
/// unpack them from `zblob` on, filling the record address tables.
fn unpack(s: &mut String, layers: &[Layer], mem: &Memory, split: Option<Split>, blob: &Blob) {
    w(s, &format!("zblob_len: equ {}", blob.len));
    w(s, &format!("zblob_slack: equ {}", blob.slack));
    w(s, "    ld hl,zblob+zblob_len-1");
    w(s, "    ld de,zblob+zblob_slack+zblob_len-1");
    w(s, "    ld bc,zblob_len");
    w(s, "    lddr");
    w(s, "    ld hl,zblob+zblob_slack");
    w(s, "    ld de,zblob");
    for (k, (first, cols)) in record_parts(layers, split).iter().enumerate() {
        w(s, "    exx");
        w(
            s,
            &format!("    ld hl,0x{:04x}", mem.recs[k] + *first as u16),
        );
        w(s, "    exx");
        w(s, &format!("    ld a,{}", cols.len() % 256));
        w(s, "    ld (ex_cols),a");
        w(s, "    call ex_part");
    }
}

/// The subroutines `unpack` calls.
fn unpack_routines(s: &mut String) {
    // hl: packed, de: unpacked, hl': address table slot, (ex_cols): columns.
    w(s, "ex_part:");
    w(s, "    ld a,e");
    w(s, "    exx");
    w(s, "    ld (hl),a");
    w(s, "    inc h");
    w(s, "    exx");
    w(s, "    ld a,d");
    w(s, "    exx");
    w(s, "    ld (hl),a");
    w(s, "    dec h");
    w(s, "    inc l");
    w(s, "    exx");
    w(s, "    ld c,(hl)");
    w(s, "    inc hl");
    w(s, "    ld b,(hl)");
    w(s, "    inc hl");
    w(s, "    push bc");
    w(s, "    ld a,c");
    w(s, "    call ex_turns");
    w(s, "    ld a,b");
    w(s, "    call ex_turns");
    w(s, "    ld a,c");
    w(s, "    ld bc,ex_plus");
    w(s, "    call ex_entry");
    w(s, "    pop bc");
    w(s, "    push bc");
    w(s, "    ld a,c");
    w(s, "    call ex_list");
    w(s, "    pop bc");
    w(s, "    ld a,b");
    w(s, "    push af");
    w(s, "    ld bc,ex_minus");
    w(s, "    call ex_entry");
    w(s, "    pop af");
    w(s, "    call ex_list");
    w(s, "    ld a,(ex_cols)");
    w(s, "    dec a");
    w(s, "    ld (ex_cols),a");
    w(s, "    jr nz,ex_part");
    w(s, "    ret");
    // a = n rows: writes the turns, ceil(n/4) (9-bit sum through the carry).
    w(s, "ex_turns:");
    w(s, "    add a,3");
    w(s, "    rra");
    w(s, "    srl a");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "    ret");
    // a = n rows, bc = a loop's entries by n mod 4, then its exit (n = 0).
    w(s, "ex_entry:");
    w(s, "    push hl");
    w(s, "    ld h,b");
    w(s, "    ld l,c");
    w(s, "    or a");
    w(s, "    ld c,8");
    w(s, "    jr z,ex_slot");
    w(s, "    and 3");
    w(s, "    add a,a");
    w(s, "    ld c,a");
    w(s, "ex_slot:");
    w(s, "    ld b,0");
    w(s, "    add hl,bc");
    w(s, "    ld a,(hl)");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "    inc hl");
    w(s, "    ld a,(hl)");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "    pop hl");
    w(s, "    ret");
    // a = n rows: a junk byte if n is odd, then the rows from the gaps.
    w(s, "ex_list:");
    w(s, "    or a");
    w(s, "    ret z");
    w(s, "    ld b,a");
    w(s, "    ld c,0");
    w(s, "    rra");
    w(s, "    jr nc,ex_hi");
    w(s, "    xor a");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "ex_hi:");
    w(s, "    ld a,(hl)");
    w(s, "    rrca");
    w(s, "    rrca");
    w(s, "    rrca");
    w(s, "    rrca");
    w(s, "    and 15");
    w(s, "    cp 15");
    w(s, "    jr z,ex_esc1");
    w(s, "    add a,c");
    w(s, "    ld c,a");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "    dec b");
    w(s, "    jr z,ex_pad");
    w(s, "ex_lo:");
    w(s, "    ld a,(hl)");
    w(s, "    inc hl");
    w(s, "    and 15");
    w(s, "    cp 15");
    w(s, "    jr z,ex_esc2");
    w(s, "    add a,c");
    w(s, "    ld c,a");
    w(s, "    ld (de),a");
    w(s, "    inc de");
    w(s, "    djnz ex_hi");
    w(s, "    ret");
    // The list ended on a high nibble: the low one is padding.
    w(s, "ex_pad:");
    w(s, "    inc hl");
    w(s, "    ret");
    w(s, "ex_esc1:");
    w(s, "    ld a,c");
    w(s, "    add a,15");
    w(s, "    ld c,a");
    w(s, "    jr ex_lo");
    w(s, "ex_esc2:");
    w(s, "    ld a,c");
    w(s, "    add a,15");
    w(s, "    ld c,a");
    w(s, "    jr ex_hi");
    for (name, lp) in [("ex_plus", "zsa"), ("ex_minus", "zss")] {
        w(s, &format!("{name}:"));
        w(s, &format!("    dw {lp}_s0,{lp}_e3,{lp}_s2,{lp}_e1,{lp}_x"));
    }
    w(s, "ex_cols:");
    w(s, "    db 0");
}

/// Layer 1's query columns, once per reply: a plain loop over the active
/// list with the stack free, decoding each column's nibble-coded rows.
fn query_phase(s: &mut String, mem: &Memory) {
    let acc = mem.acc[0] >> 8;
    let recs = mem.recs[0] >> 8;
    w(s, &format!("    ld ix,0x{:04x}", mem.act));
    w(s, "qp_col:");
    w(s, "    ld a,(ix+1)");
    w(s, "    or a");
    w(s, "    jp nz,ms_qdone");
    w(s, "    ld l,(ix+0)");
    w(s, &format!("    ld h,{recs}"));
    w(s, "    ld a,(hl)");
    w(s, "    inc h");
    w(s, "    ld h,(hl)");
    w(s, "    ld l,a");
    w(s, "    push hl");
    w(s, "    pop iy");
    w(s, "    ld e,(ix+2)");
    w(s, "    ld d,(ix+3)");
    w(s, &format!("    ld h,{acc}"));
    w(s, "    ld b,(iy+0)");
    w(s, "    ld c,(iy+1)");
    w(s, "    inc iy");
    w(s, "    inc iy");
    // x = 32 or 64, as a query trigram's bucket usually is: 8-bit adds.
    w(s, "    ld a,d");
    w(s, "    or a");
    w(s, "    jr nz,qp_wide");
    w(s, "    push bc");
    w(s, "    ld a,b");
    w(s, "    or a");
    w(s, "    call nz,zq_add");
    w(s, "    pop bc");
    w(s, "    ld a,c");
    w(s, "    or a");
    w(s, "    jr z,qp_next");
    w(s, "    ld b,c");
    w(s, "    call zq_sub");
    w(s, "    jr qp_next");
    w(s, "qp_wide:");
    w(s, "    push bc");
    w(s, "    ld a,b");
    w(s, "    or a");
    w(s, "    call nz,zq_group");
    w(s, "    pop bc");
    w(s, "    ld a,c");
    w(s, "    or a");
    w(s, "    jr z,qp_next");
    w(s, "    xor a");
    w(s, "    sub e");
    w(s, "    ld e,a");
    w(s, "    sbc a,a");
    w(s, "    sub d");
    w(s, "    ld d,a");
    w(s, "    ld b,c");
    w(s, "    call zq_group");
    w(s, "qp_next:");
    w(s, "    ld bc,4");
    w(s, "    add ix,bc");
    w(s, "    jr qp_col");
    // iy: nibbles, b: how many (at least 1), de: value (zq_add, zq_sub: e),
    // h: accumulator page. A nibble is the gap to the next row; 15 moves on
    // 15 rows without adding.
    nibble_group(s, "zq_group", None);
    nibble_group(s, "zq_add", Some(("add a,e", "inc (hl)")));
    nibble_group(s, "zq_sub", Some(("sub e", "dec (hl)")));
}

/// A nibble-coded row list: 16-bit adds of de, or `op` with e and `fix` on a carry.
fn nibble_group(s: &mut String, name: &str, narrow: Option<(&str, &str)>) {
    w(s, &format!("{name}:"));
    w(s, "    ld l,0");
    w(s, &format!("{name}_byte:"));
    w(s, "    ld c,(iy+0)");
    w(s, "    inc iy");
    w(s, "    ld a,c");
    w(s, "    rrca");
    w(s, "    rrca");
    w(s, "    rrca");
    w(s, "    rrca");
    for half in [1, 2] {
        if half == 2 {
            w(s, "    dec b");
            w(s, "    ret z");
            w(s, "    ld a,c");
        }
        w(s, "    and 15");
        w(s, "    cp 15");
        w(s, &format!("    jr z,{name}_esc{half}"));
        w(s, "    add a,l");
        w(s, "    ld l,a");
        w(s, "    ld a,(hl)");
        match narrow {
            Some((op, fix)) => {
                w(s, &format!("    {op}"));
                w(s, "    ld (hl),a");
                w(s, &format!("    jr nc,{name}_back{half}"));
                w(s, "    inc h");
                w(s, &format!("    {fix}"));
                w(s, "    dec h");
            }
            None => {
                w(s, "    add a,e");
                w(s, "    ld (hl),a");
                w(s, "    inc h");
                w(s, "    ld a,(hl)");
                w(s, "    adc a,d");
                w(s, "    ld (hl),a");
                w(s, "    dec h");
            }
        }
        w(s, &format!("{name}_back{half}:"));
    }
    w(s, &format!("    djnz {name}_byte"));
    w(s, "    ret");
    for half in [1, 2] {
        w(s, &format!("{name}_esc{half}:"));
        w(s, "    ld a,l");
        w(s, "    add a,15");
        w(s, "    ld l,a");
        w(s, &format!("    jr {name}_back{half}"));
    }
}

/// Row gaps as nibbles (15 = move on 15 rows without adding).
fn nibbles(rows: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0u32;
    for &r in rows {
        let mut gap = r as u32 - at;
        while gap >= 15 {
            out.push(15);
            gap -= 15;
        }
        out.push(gap as u8);
        at = r as u32;
    }
    out
}

fn pack(nibbles: &[u8]) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|c| c[0] << 4 | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// Arithmetic shift right of a:c by `n`.
fn shift_ac(s: &mut String, n: u32) {
    let mut n = n;
    if n >= 8 {
        w(s, "    ld c,a");
        w(s, "    rla");
        w(s, "    sbc a,a");
        n -= 8;
    }
    for _ in 0..n {
        w(s, "    sra a");
        w(s, "    rr c");
    }
}

/// The shared inner loops. On entry SP points at a column record, H is the
/// layer's accumulator page, IY is where to go when the column is done.
///
/// A record is `db turns_plus, turns_minus` `dw entry_plus`, the +1 rows,
/// `dw entry_minus`, the −1 rows; a `ret` jumps to an entry. Each loop turn takes four rows, two per
/// `pop`; a list of n rows enters its loop at the slot that leaves n mod 4
/// rows for the first turn (odd lists lead with a junk byte the entry skips),
/// and an empty list's entry is its loop's exit. So a column costs no count
/// arithmetic and no padding rows.
fn scatter_routines(s: &mut String) {
    // 1 <= x <= 255 in c: add to the +1 rows, subtract from the −1 rows.
    w(s, "zs_pos:");
    w(s, "    pop de");
    w(s, "    ld b,e");
    w(s, "    ld a,d");
    w(s, "    ex af,af'");
    w(s, "    ret");
    loop8(s, "zsa", "add a,c");
    // The +1 rows are done: on to the −1 rows' entry, turns in a'.
    w(s, "    ex af,af'");
    w(s, "    ld b,a");
    w(s, "    ret");
    loop8_stubs(s, "zsa", "add a,c", "inc (hl)");
    loop8(s, "zss", "sub c");
    w(s, "    jp (iy)");
    loop8_stubs(s, "zss", "sub c", "dec (hl)");
    // Any other x, in de: 16-bit adds of x to the +1 rows and of -x to the
    // −1 rows, through loops of the same slots (found from the entries' low
    // bytes); the turn counter lives in memory, b and c hold rows.
    w(s, "zs_gen:");
    w(s, "    pop bc");
    w(s, "    pop ix");
    w(s, "    ld a,b");
    w(s, "    ld (zs_turnsm),a");
    w(s, "    ld a,c");
    w(s, "    ld (zs_count),a");
    w(s, "    ld (zs_entry),ix");
    w(s, "    ld a,(zs_entry)");
    slot_map(s, "zsa", "zgp");
    gen_loop(s, "zgp");
    w(s, "    pop ix");
    w(s, "    xor a");
    w(s, "    sub e");
    w(s, "    ld e,a");
    w(s, "    sbc a,a");
    w(s, "    sub d");
    w(s, "    ld d,a");
    w(s, "    ld a,(zs_turnsm)");
    w(s, "    ld (zs_count),a");
    w(s, "    ld (zs_entry),ix");
    w(s, "    ld a,(zs_entry)");
    slot_map(s, "zss", "zgm");
    gen_loop(s, "zgm");
    w(s, "    jp (iy)");
    w(s, "zs_count:");
    w(s, "    db 0");
    w(s, "zs_turnsm:");
    w(s, "    db 0");
    w(s, "zs_entry:");
    w(s, "    dw 0");
}

/// The four entry slots of a loop, and its exit, as record entries name them.
const SLOTS: [&str; 5] = ["s0", "e1", "s2", "e3", "x"];

/// Four rows per turn of `op` on x = c, carries to the high page out of line.
fn loop8(s: &mut String, name: &str, op: &str) {
    slot_loop(s, name, "de", |s, slot, row| {
        w(s, &format!("    ld l,{row}"));
        w(s, "    ld a,(hl)");
        w(s, &format!("    {op}"));
        w(s, "    ld (hl),a");
        w(s, &format!("    jr c,{name}_c{slot}"));
    });
    w(s, &format!("    djnz {name}_s0"));
    w(s, &format!("{name}_x:"));
}

/// The entry slots every scatter loop shares: rows popped into `pair` two at
/// a time, `row` emitting one row's work, four rows a turn; `_e1`/`_e3` pop a
/// pair whose first byte is junk and go on with its second.
fn slot_loop(s: &mut String, name: &str, pair: &str, row: impl Fn(&mut String, usize, char)) {
    let (first, second) = match pair {
        "de" => ('e', 'd'),
        _ => ('c', 'b'),
    };
    for odd in [1, 3] {
        w(s, &format!("{name}_e{odd}:"));
        w(s, &format!("    pop {pair}"));
        w(s, &format!("    jp {name}_s{odd}"));
    }
    w(s, &format!("{name}_s0:"));
    for slot in 0..4 {
        if slot == 2 {
            w(s, &format!("{name}_s2:"));
        }
        if slot % 2 == 0 {
            w(s, &format!("    pop {pair}"));
        } else {
            w(s, &format!("{name}_s{slot}:"));
        }
        row(s, slot, if slot % 2 == 0 { first } else { second });
    }
}

/// `loop8`'s carry fixes: `fix` on the high byte, then the rest of the turn
/// again (a jump back would cost more than the copy).
fn loop8_stubs(s: &mut String, name: &str, op: &str, fix: &str) {
    for slot in 0..4 {
        w(s, &format!("{name}_c{slot}:"));
        w(s, "    inc h");
        w(s, &format!("    {fix}"));
        w(s, "    dec h");
        for next in slot + 1..4 {
            if next == 2 {
                w(s, "    pop de");
            }
            w(
                s,
                &format!("    ld l,{}", if next % 2 == 0 { "e" } else { "d" }),
            );
            w(s, "    ld a,(hl)");
            w(s, &format!("    {op}"));
            w(s, "    ld (hl),a");
            w(s, &format!("    jr c,{name}_c{next}"));
        }
        w(s, "    dec b");
        w(s, &format!("    jp nz,{name}_s0"));
        w(s, &format!("    jp {name}_x"));
    }
}

/// Jump to the slot of loop `to` that matches entry (low byte in a) of loop `from`.
fn slot_map(s: &mut String, from: &str, to: &str) {
    for slot in SLOTS {
        w(s, &format!("    cp {from}_{slot} & 255"));
        w(s, &format!("    jp z,{to}_{slot}"));
    }
}

/// `loop8`'s slots with 16-bit adds of de, turns counted in memory.
fn gen_loop(s: &mut String, name: &str) {
    slot_loop(s, name, "bc", |s, _, row| {
        w(s, &format!("    ld l,{row}"));
        w(s, "    ld a,(hl)");
        w(s, "    add a,e");
        w(s, "    ld (hl),a");
        w(s, "    inc h");
        w(s, "    ld a,(hl)");
        w(s, "    adc a,d");
        w(s, "    ld (hl),a");
        w(s, "    dec h");
    });
    w(s, "    ld a,(zs_count)");
    w(s, "    dec a");
    w(s, "    ld (zs_count),a");
    w(s, &format!("    jr nz,{name}_s0"));
    w(s, &format!("{name}_x:"));
}

/// A list's bytes: odd lengths lead with a junk byte the entry skips.
fn list_bytes(rows: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    if rows.len() % 2 == 1 {
        v.push(0);
    }
    v.extend_from_slice(rows);
    v
}

/// Bias words and column records, per layer.
fn tables(s: &mut String, layers: &[Layer], split: Option<Split>) {
    w(s, "; ---- tables ----");
    if let Some(sp) = split {
        // Layer 1's query columns are read once per reply: nibble-coded, compact.
        w(s, "l0_qrecs:");
        for c in &layers[0].columns[sp.query.0..sp.query.0 + sp.query.1] {
            let (plus, minus) = unit_lists(c);
            let (np, nm) = (nibbles(&plus), nibbles(&minus));
            let mut bytes = vec![np.len().to_string(), nm.len().to_string()];
            bytes.extend(pack(&np).iter().chain(&pack(&nm)).map(|b| b.to_string()));
            db_lines(s, &bytes);
        }
    }
    for (k, l) in layers.iter().enumerate() {
        w(s, &format!("l{k}_bias:"));
        let words: Vec<String> = l.bias.iter().map(|b| (*b as u16).to_string()).collect();
        for chunk in words.chunks(12) {
            w(s, &format!("    dw {}", chunk.join(",")));
        }
    }
}

/// One column's weights: (row, value) pairs.
type Column = Vec<(usize, i8)>;

/// The columns whose records go to the packed blob, per layer: (first table
/// slot's column, columns).
fn record_parts(layers: &[Layer], split: Option<Split>) -> Vec<(usize, Vec<&Column>)> {
    layers
        .iter()
        .enumerate()
        .map(|(k, l)| match (k, split) {
            (0, Some(sp)) => (
                sp.context.0,
                l.columns[sp.context.0..sp.context.0 + sp.context.1]
                    .iter()
                    .collect(),
            ),
            _ => (0, l.columns.iter().collect()),
        })
        .collect()
}

/// The column records, packed: what `model_init` unpacks in place.
#[derive(Debug, Clone)]
pub struct Blob {
    /// `db` lines of the packed bytes.
    pub text: String,
    /// Packed length in bytes.
    pub len: usize,
    /// Unpacked length: the records in RAM from `zblob` on.
    pub unpacked: usize,
    /// How far above `zblob` the packed bytes move before unpacking, so the
    /// records written never reach bytes not yet read.
    pub slack: usize,
}

/// Pack every record: `db n_plus, n_minus` and each list's row gaps as
/// nibbles (see `nibbles`), each list padded to a whole byte.
pub fn blob(layers: &[Layer], split: Option<Split>) -> Blob {
    let mut bytes = Vec::new();
    let (mut out, mut slack) = (0usize, 0usize);
    for (_, cols) in record_parts(layers, split) {
        for c in cols {
            let (plus, minus) = unit_lists(c);
            let start = bytes.len();
            bytes.push(plus.len() as u8);
            bytes.push(minus.len() as u8);
            bytes.extend(pack(&nibbles(&plus)));
            bytes.extend(pack(&nibbles(&minus)));
            out += 6 + list_bytes(&plus).len() + list_bytes(&minus).len();
            slack = slack.max(out.saturating_sub(start));
        }
    }
    let mut text = String::new();
    db_lines(
        &mut text,
        &bytes.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
    );
    Blob {
        text,
        len: bytes.len(),
        unpacked: out,
        slack,
    }
}

fn db_lines(s: &mut String, bytes: &[String]) {
    for chunk in bytes.chunks(16) {
        w(s, &format!("    db {}", chunk.join(",")));
    }
}
