//! Inference code for the Z80: column-scatter sparse matmuls over the non-zero
//! inputs only, so zero weights, zero activations and dead neurons cost nothing.
//!
//! Layout (see `docs/z80.md` for the reasons):
//! - every layer has its own accumulators in two page-aligned buffers, low
//!   bytes in one page and high bytes in the next, so a row index is just `l`;
//!   they hold the bias when a step starts, because the epilogue that reads a
//!   row puts the bias back for the next step;
//! - every input column has a record `db pairs_plus, pairs_minus` followed by
//!   the row indices of its +1 weights and of its −1 weights (a weight w > 1 or
//!   w < −1 appears |w| times), each list padded to an even length with a trash
//!   row, so the inner loop pops two row indices at a time with `pop bc`;
//! - records are stored back to back; on the first step a table of their
//!   addresses is built in RAM (low and high bytes in two pages) so a column's
//!   record is found from its index in four instructions;
//! - the non-zero inputs of a layer are an "active list" of 4-byte entries
//!   (index, 0, value), ended by (0, 255), which the previous layer's epilogue
//!   writes.
//!
//! The stack pointer reads the lists inside a step, so a step runs with
//! interrupts disabled and restores the caller's interrupt state before it returns.

use super::layers::ZLayer;

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
    /// Active lists (ping-pong).
    pub act: [u16; 2],
    /// Layer 1's sums over the query, kept for a reply (see `Split`).
    pub cache: u16,
    /// The input vector.
    pub zin: u16,
}

/// Plan the buffers for `layers` fed by an input of `zin_len` words.
pub fn plan_memory(layers: &[ZLayer], zin_len: usize) -> Memory {
    let stack_top: u16 = 0xDC00;
    let mut next = stack_top - 0x100;
    let mut pages = |n: u16| {
        next -= n * 0x100;
        next
    };
    let acc = layers.iter().map(|_| pages(2)).collect();
    let recs = layers.iter().map(|_| pages(2)).collect();
    let vars = pages(1);
    let last_rows = layers.last().map(ZLayer::rows).unwrap_or(1) as u16;
    let zout = vars - 2 * last_rows;
    let act_len = 4 * 257;
    let act1 = zout - act_len;
    let act0 = act1 - act_len;
    let cache = act0 - 2 * layers.first().map(ZLayer::rows).unwrap_or(1) as u16;
    let zin = (cache - 2 * zin_len as u16) & 0xFF00;
    Memory {
        stack_top,
        acc,
        recs,
        vars,
        zout,
        act: [act0, act1],
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
pub fn check_layers(layers: &[ZLayer], zin_len: usize) -> Result<(), String> {
    if zin_len > 256 {
        return Err(format!(
            "the input has {zin_len} elements; the Z80 layout takes at most 256"
        ));
    }
    for (i, l) in layers.iter().enumerate() {
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
            if p.len().div_ceil(2) > 255 || m.len().div_ceil(2) > 255 {
                return Err(format!(
                    "layer {} column {j} has more than 510 unit weights of one sign",
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
pub fn check_split(layer: &ZLayer, sp: Split) -> Result<(), String> {
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
pub fn model_asm(layers: &[ZLayer], mem: &Memory, zin_len: usize, split: Option<Split>) -> String {
    let mut s = String::new();
    let v = mem.vars;
    let (zsp, ziff, zactp, zbhi, zblo, zcls) = (v, v + 2, v + 4, v + 6, v + 7, v + 8);
    let (znewq, zl0end) = (v + 9, v + 10);
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
        None => {
            scan(&mut s, "ms", 0, zin_len, mem.act[0], zactp);
            w(&mut s, "    ld hl,l0_ep");
            w(&mut s, &format!("    ld (0x{zl0end:04x}),hl"));
        }
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
            scan(&mut s, "mq", sp.query.0, sp.query.1, mem.act[0], zactp);
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
            scan(&mut s, "mc", sp.context.0, sp.context.1, mem.act[0], zactp);
            w(&mut s, "    ld hl,l0_ep");
            w(&mut s, &format!("    ld (0x{zl0end:04x}),hl"));
        }
    }
    let last = layers.len() - 1;
    for (k, l) in layers.iter().enumerate() {
        let dst = mem.act[(k + 1) % 2];
        let rows = l.rows();
        let acc = page(mem.acc[k]);
        w(
            &mut s,
            &format!(
                "; ---- layer {}: {} inputs -> {} units ----",
                k + 1,
                l.cols,
                rows
            ),
        );
        w(&mut s, &format!("l{k}_start:"));
        w(&mut s, &format!("    ld iy,l{k}_col"));
        w(&mut s, &format!("l{k}_col:"));
        w(&mut s, &format!("    ld sp,(0x{zactp:04x})"));
        w(&mut s, "    pop hl");
        w(&mut s, "    ld a,h");
        w(&mut s, "    or a");
        if k == 0 {
            w(&mut s, "    jp nz,l0_end");
        } else {
            w(&mut s, &format!("    jp nz,l{k}_ep"));
        }
        w(&mut s, "    pop de");
        w(&mut s, &format!("    ld (0x{zactp:04x}),sp"));
        w(&mut s, &format!("    ld h,{}", page(mem.recs[k])));
        w(&mut s, "    ld a,(hl)");
        w(&mut s, "    inc h");
        w(&mut s, "    ld h,(hl)");
        w(&mut s, "    ld l,a");
        w(&mut s, "    ld sp,hl");
        w(&mut s, &format!("    ld h,{acc}"));
        w(&mut s, "    ld a,d");
        w(&mut s, "    or a");
        w(&mut s, "    jp z,zs_pos");
        w(&mut s, "    inc a");
        w(&mut s, "    jp nz,zs_gen");
        w(&mut s, "    xor a");
        w(&mut s, "    sub e");
        w(&mut s, "    jp z,zs_gen");
        w(&mut s, "    ld e,a");
        w(&mut s, "    jp zs_neg");
        // Epilogue: read each row, put its bias back, shift, ReLU, and either
        // append it to the next active list or keep the first maximum.
        if k == 0 {
            // Layer 1's input scan can end in two places (see `Split`).
            w(&mut s, "l0_end:");
            w(&mut s, &format!("    ld hl,(0x{zl0end:04x})"));
            w(&mut s, "    jp (hl)");
        }
        w(&mut s, &format!("l{k}_ep:"));
        if k == 0 && split.is_some() {
            w(&mut s, &format!("    ld sp,0x{:04x}", mem.cache));
        } else {
            w(&mut s, &format!("    ld sp,l{k}_bias"));
        }
        w(&mut s, &format!("    ld hl,0x{:04x}", mem.acc[k]));
        if k == last {
            w(&mut s, &format!("    ld ix,0x{:04x}", mem.zout));
            w(&mut s, "    xor a");
            w(&mut s, &format!("    ld (0x{zbhi:04x}),a"));
            w(&mut s, &format!("    ld (0x{zblo:04x}),a"));
            w(&mut s, &format!("    ld (0x{zcls:04x}),a"));
        } else {
            w(&mut s, &format!("    ld ix,0x{dst:04x}"));
        }
        w(&mut s, &format!("    ld b,{rows}"));
        w(&mut s, &format!("l{k}_eplp:"));
        w(&mut s, "    pop de");
        w(&mut s, "    ld a,(hl)");
        w(&mut s, "    ld (hl),e");
        w(&mut s, "    inc h");
        w(&mut s, "    ld c,a");
        w(&mut s, "    ld a,(hl)");
        w(&mut s, "    ld (hl),d");
        w(&mut s, "    dec h");
        if l.relu {
            w(&mut s, "    or a");
            if k == last {
                w(&mut s, &format!("    jp p,l{k}_pos"));
                w(&mut s, "    xor a");
                w(&mut s, "    ld c,a");
                w(&mut s, &format!("l{k}_pos:"));
            } else {
                w(&mut s, &format!("    jp m,l{k}_epnext"));
            }
        }
        shift_ac(&mut s, l.shift);
        if k == last {
            w(&mut s, "    ld (ix+0),c");
            w(&mut s, "    ld (ix+1),a");
            w(&mut s, "    inc ix");
            w(&mut s, "    inc ix");
            w(&mut s, "    xor 128");
            w(&mut s, "    ld d,a");
            w(&mut s, &format!("    ld a,(0x{zbhi:04x})"));
            w(&mut s, "    cp d");
            w(&mut s, &format!("    jr c,l{k}_better"));
            w(&mut s, &format!("    jr nz,l{k}_epnext"));
            w(&mut s, &format!("    ld a,(0x{zblo:04x})"));
            w(&mut s, "    cp c");
            w(&mut s, &format!("    jr nc,l{k}_epnext"));
            w(&mut s, &format!("l{k}_better:"));
            w(&mut s, "    ld a,d");
            w(&mut s, &format!("    ld (0x{zbhi:04x}),a"));
            w(&mut s, "    ld a,c");
            w(&mut s, &format!("    ld (0x{zblo:04x}),a"));
            w(&mut s, "    ld a,l");
            w(&mut s, &format!("    ld (0x{zcls:04x}),a"));
        } else {
            w(&mut s, "    ld d,a");
            w(&mut s, "    or c");
            w(&mut s, &format!("    jr z,l{k}_epnext"));
            w(&mut s, "    ld (ix+0),l");
            w(&mut s, "    ld (ix+1),0");
            w(&mut s, "    ld (ix+2),c");
            w(&mut s, "    ld (ix+3),d");
            w(&mut s, "    ld de,4");
            w(&mut s, "    add ix,de");
        }
        w(&mut s, &format!("l{k}_epnext:"));
        w(&mut s, "    inc l");
        w(&mut s, "    dec b");
        w(&mut s, &format!("    jp nz,l{k}_eplp"));
        if k != last {
            w(&mut s, "    ld (ix+1),255");
            w(&mut s, &format!("    ld hl,0x{dst:04x}"));
            w(&mut s, &format!("    ld (0x{zactp:04x}),hl"));
        }
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
    init_routine(&mut s, layers, mem, split, znewq);
    scatter_routines(&mut s);
    tables(&mut s, layers, split);
    s
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
fn init_routine(s: &mut String, layers: &[ZLayer], mem: &Memory, split: Option<Split>, znewq: u16) {
    w(
        s,
        "; ---- first step: biases into the accumulators, record tables into RAM ----",
    );
    w(s, "model_init:");
    for (k, l) in layers.iter().enumerate() {
        w(s, &format!("    ld hl,l{k}_bias"));
        w(s, &format!("    ld de,0x{:04x}", mem.acc[k]));
        w(s, &format!("    ld b,{}", l.rows()));
        w(s, "    call mi_bias");
        match (k, split) {
            (0, Some(sp)) => {
                w(s, "    ld hl,l0_qrecs");
                w(
                    s,
                    &format!("    ld de,0x{:04x}", mem.recs[0] + sp.query.0 as u16),
                );
                w(s, &format!("    ld b,{}", sp.query.1 % 256));
                w(s, "    call mi_qrecs");
                w(s, "    ld hl,l0_recs");
                w(
                    s,
                    &format!("    ld de,0x{:04x}", mem.recs[0] + sp.context.0 as u16),
                );
                w(s, &format!("    ld b,{}", sp.context.1 % 256));
                w(s, "    call mi_recs");
            }
            _ => {
                w(s, &format!("    ld hl,l{k}_recs"));
                w(s, &format!("    ld de,0x{:04x}", mem.recs[k]));
                w(s, &format!("    ld b,{}", l.cols % 256));
                w(s, "    call mi_recs");
            }
        }
    }
    w(s, "    ld a,1");
    w(s, "    ld (ms_ready),a");
    if split.is_some() {
        w(s, &format!("    ld (0x{znewq:04x}),a"));
    }
    w(s, "    ret");
    // hl: bias words, de: accumulator page, b: rows.
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
    // hl: first record, de: table page, b: columns; a record is 2 + 2*(p + m) bytes.
    w(s, "mi_recs:");
    w(s, "    ld a,l");
    w(s, "    ld (de),a");
    w(s, "    inc d");
    w(s, "    ld a,h");
    w(s, "    ld (de),a");
    w(s, "    dec d");
    w(s, "    inc e");
    w(s, "    ld a,(hl)");
    w(s, "    inc hl");
    w(s, "    add a,(hl)");
    w(s, "    inc hl");
    w(s, "    push bc");
    w(s, "    ld c,a");
    w(s, "    ld b,0");
    w(s, "    rl b");
    w(s, "    add hl,bc");
    w(s, "    add hl,bc");
    w(s, "    pop bc");
    w(s, "    djnz mi_recs");
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

/// Layer 1's query columns, once per reply: a plain loop over the active
/// list with the stack free, decoding each column's nibble-coded rows.
fn query_phase(s: &mut String, mem: &Memory) {
    let acc = mem.acc[0] >> 8;
    let recs = mem.recs[0] >> 8;
    w(s, &format!("    ld ix,0x{:04x}", mem.act[0]));
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
    // iy: nibbles, b: how many (at least 1), de: value, h: accumulator page.
    // A nibble is the gap to the next row; 15 moves on 15 rows without adding.
    w(s, "zq_group:");
    w(s, "    ld l,0");
    w(s, "zq_byte:");
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
        w(s, &format!("    jr z,zq_esc{half}"));
        w(s, "    add a,l");
        w(s, "    ld l,a");
        w(s, "    ld a,(hl)");
        w(s, "    add a,e");
        w(s, "    ld (hl),a");
        w(s, "    inc h");
        w(s, "    ld a,(hl)");
        w(s, "    adc a,d");
        w(s, "    ld (hl),a");
        w(s, "    dec h");
        w(s, &format!("zq_back{half}:"));
    }
    w(s, "    djnz zq_byte");
    w(s, "    ret");
    for half in [1, 2] {
        w(s, &format!("zq_esc{half}:"));
        w(s, "    ld a,l");
        w(s, "    add a,15");
        w(s, "    ld l,a");
        w(s, &format!("    jr zq_back{half}"));
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
fn scatter_routines(s: &mut String) {
    // x in 1..=255 (zs_pos: +1 rows add x) or -255..=-1 (zs_neg, e = |x|: +1 rows subtract).
    for (name, first, second) in [
        ("zs_pos", "add a,e", "sub e"),
        ("zs_neg", "sub e", "add a,e"),
    ] {
        w(s, &format!("{name}:"));
        w(s, "    pop bc");
        w(s, "    ld a,b");
        w(s, "    ex af,af'");
        w(s, "    ld a,c");
        w(s, "    or a");
        w(s, &format!("    jr z,{name}_m"));
        for (grp, op) in [("p", first), ("m", second)] {
            if grp == "m" {
                w(s, &format!("{name}_m:"));
                w(s, "    ex af,af'");
                w(s, "    or a");
                w(s, "    jp z,zs_done");
            }
            // Four rows per turn: a = pairs, d = turns, and an odd pair count
            // starts halfway through the first turn.
            w(s, "    srl a");
            w(s, &format!("    jr nc,{name}_{grp}ev"));
            w(s, "    inc a");
            w(s, "    ld d,a");
            w(s, &format!("    jr {name}_{grp}h2"));
            w(s, &format!("{name}_{grp}ev:"));
            w(s, "    ld d,a");
            // A carry out of the low byte is rare for small x: it goes out of line.
            let fix = if op.starts_with("add") {
                "inc (hl)"
            } else {
                "dec (hl)"
            };
            w(s, &format!("{name}_{grp}lp:"));
            let mut stubs = Vec::new();
            for half in 1..=2 {
                if half == 2 {
                    w(s, &format!("{name}_{grp}h2:"));
                }
                w(s, "    pop bc");
                for reg in ["c", "b"] {
                    let tag = format!("{name}_{grp}{reg}{half}");
                    w(s, &format!("    ld l,{reg}"));
                    w(s, "    ld a,(hl)");
                    w(s, &format!("    {op}"));
                    w(s, "    ld (hl),a");
                    w(s, &format!("    jr c,{tag}f"));
                    w(s, &format!("{tag}b:"));
                    stubs.push(tag);
                }
            }
            w(s, "    dec d");
            w(s, &format!("    jr nz,{name}_{grp}lp"));
            if grp == "p" {
                w(s, &format!("    jr {name}_m"));
            } else {
                w(s, "    jp (iy)");
            }
            for tag in stubs {
                w(s, &format!("{tag}f:"));
                w(s, "    inc h");
                w(s, &format!("    {fix}"));
                w(s, "    dec h");
                w(s, &format!("    jr {tag}b"));
            }
        }
    }
    w(s, "zs_done:");
    w(s, "    jp (iy)");
    // Any x: full 16-bit adds of de (+1 rows) and -de (-1 rows); the pair
    // counter lives in b' because every main register is taken.
    w(s, "zs_gen:");
    w(s, "    pop bc");
    w(s, "    ld a,b");
    w(s, "    ex af,af'");
    w(s, "    ld a,c");
    w(s, "    or a");
    w(s, "    jr z,zs_gen_m");
    gen_loop(s, "zs_gen_plp");
    w(s, "zs_gen_m:");
    w(s, "    xor a");
    w(s, "    sub e");
    w(s, "    ld e,a");
    w(s, "    sbc a,a");
    w(s, "    sub d");
    w(s, "    ld d,a");
    w(s, "    ex af,af'");
    w(s, "    or a");
    w(s, "    jp z,zs_done");
    gen_loop(s, "zs_gen_mlp");
    w(s, "    jp (iy)");
}

/// `a` pairs of 16-bit adds of de into the rows popped from the list.
fn gen_loop(s: &mut String, label: &str) {
    w(s, "    exx");
    w(s, "    ld b,a");
    w(s, "    exx");
    w(s, &format!("{label}:"));
    w(s, "    pop bc");
    for reg in ["c", "b"] {
        w(s, &format!("    ld l,{reg}"));
        w(s, "    ld a,(hl)");
        w(s, "    add a,e");
        w(s, "    ld (hl),a");
        w(s, "    inc h");
        w(s, "    ld a,(hl)");
        w(s, "    adc a,d");
        w(s, "    ld (hl),a");
        w(s, "    dec h");
    }
    w(s, "    exx");
    w(s, "    dec b");
    w(s, "    exx");
    w(s, &format!("    jr nz,{label}"));
}

/// Bias words and column records, per layer.
fn tables(s: &mut String, layers: &[ZLayer], split: Option<Split>) {
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
        let rows = l.rows();
        w(s, &format!("l{k}_bias:"));
        let words: Vec<String> = l.bias.iter().map(|b| (*b as u16).to_string()).collect();
        for chunk in words.chunks(12) {
            w(s, &format!("    dw {}", chunk.join(",")));
        }
        w(s, &format!("l{k}_recs:"));
        let cols: Vec<&Vec<(usize, i8)>> = match (k, split) {
            (0, Some(sp)) => l.columns[sp.context.0..sp.context.0 + sp.context.1]
                .iter()
                .collect(),
            _ => l.columns.iter().collect(),
        };
        for c in cols {
            let (mut plus, mut minus) = unit_lists(c);
            // Even lengths: the trash row soaks up the padding entry.
            for list in [&mut plus, &mut minus] {
                if list.len() % 2 == 1 {
                    list.push(rows as u8);
                }
            }
            let mut bytes = vec![(plus.len() / 2).to_string(), (minus.len() / 2).to_string()];
            bytes.extend(plus.iter().chain(&minus).map(|r| r.to_string()));
            db_lines(s, &bytes);
        }
    }
}

fn db_lines(s: &mut String, bytes: &[String]) {
    for chunk in bytes.chunks(16) {
        w(s, &format!("    db {}", chunk.join(",")));
    }
}
