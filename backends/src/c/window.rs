//! Convolution and pooling layers in C: plain loops over the output map, the
//! kernel's taps clipped to the input (padding reads nothing), weights in a
//! flash table row by row. The elementwise pass that follows is the dense
//! layers' (see `layer_view`), with biases per channel.

use std::fmt::Write;

use zlmc_ir::{Elem, Shape, Weights, Window};

use super::tables::{signed, size_of, table};
use crate::lowered::LayerOp;

/// A window layer's C: its tables, the statements of its function before
/// the elementwise pass, and the lines of its comment.
pub(crate) struct WindowCode {
    /// Flash tables.
    pub tables: Vec<String>,
    /// The loops that fill `y` (or the 32-bit accumulators).
    pub body: String,
    /// What the layer computes, for its comment.
    pub comment: Vec<String>,
    /// Bytes of flash its tables take.
    pub rom_bytes: usize,
}

/// The C of window layer `op` (a conv or a pool), layer `k` of model `p`,
/// accumulating in `acc`, its accumulators starting at `init` (per output
/// channel) when given.
pub(crate) fn window_code(
    (p, up): (&str, &str),
    k: usize,
    op: &LayerOp,
    acc: Elem,
    init: Option<&[i64]>,
) -> WindowCode {
    let mut c = WindowCode {
        tables: Vec::new(),
        body: String::new(),
        comment: Vec::new(),
        rom_bytes: 0,
    };
    match *op {
        LayerOp::Conv {
            weights,
            window,
            groups,
            input,
            output,
        } => conv(
            &mut c,
            (p, up),
            k,
            weights,
            (window, groups),
            (input, output),
            acc,
            init,
        ),
        LayerOp::MaxPool {
            window,
            input,
            output,
        } => pool(&mut c, p, window, input, output, None),
        LayerOp::AvgPool {
            window,
            mul,
            shift,
            input,
            output,
        } => pool(&mut c, p, window, input, output, Some((mul, shift))),
        LayerOp::Dense(_) => unreachable!("dense layers are not window layers"),
    }
    c
}

/// `kernel 3x3, stride 1x1, padding [1, 1, 1, 1]` for comments.
fn describe(w: &Window) -> String {
    format!(
        "kernel {}x{}, stride {}x{}, padding {:?} (top, left, bottom, right)",
        w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.pads
    )
}

/// `C x H x W` for comments.
fn dims(s: Shape) -> String {
    format!("{}x{}x{}", s.channels, s.height, s.width)
}

/// Opens the two loops over the kernel's taps at output `(oy, ox)`, skipping
/// taps on padding: inside, `iy`/`ix` are the tap's input row and column.
/// The caller closes both.
fn tap_loops(w: &Window, input: Shape, indent: &str) -> String {
    let [kh, kw] = w.kernel;
    let [sh, sw] = w.stride;
    let [top, left, ..] = w.pads;
    format!(
        "{indent}for (unsigned ky = 0; ky < {kh}u; ky++) {{\n\
         {indent}    const int iy = (int)(oy * {sh}u + ky) - {top};\n\
         {indent}    if (iy < 0 || iy >= {h})\n\
         {indent}        continue;\n\
         {indent}    for (unsigned kx = 0; kx < {kw}u; kx++) {{\n\
         {indent}        const int ix = (int)(ox * {sw}u + kx) - {left};\n\
         {indent}        if (ix < 0 || ix >= {wd})\n\
         {indent}            continue;\n",
        h = input.height,
        wd = input.width,
    )
}

#[allow(clippy::too_many_arguments)] // one layer's parts, named where they are used
fn conv(
    c: &mut WindowCode,
    (p, up): (&str, &str),
    k: usize,
    weights: &Weights,
    (window, groups): (Window, usize),
    (input, output): (Shape, Shape),
    acc: Elem,
    init: Option<&[i64]>,
) {
    let rom = format!("{up}_ROM");
    let taps = weights.cols();
    let per_in = input.channels / groups;
    let per_out = output.channels / groups;
    let area = window.area();
    // Every weight a byte, row by row: an output channel's taps in the IR's
    // column order `(ci·kh + ky)·kw + kx`.
    let mut bytes = Vec::with_capacity(weights.rows() * taps);
    for o in 0..weights.rows() {
        let mut row = vec![0i8; taps];
        for (col, v) in weights.row_entries(o) {
            row[col as usize] = v;
        }
        bytes.extend(row.iter().map(|v| v.to_string()));
    }
    let wname = format!("{p}_l{k}_w");
    c.tables.push(table("int8_t", &wname, &rom, &bytes));
    c.rom_bytes += bytes.len().max(1);
    let (acc_t, acc_arr, rd) = match acc {
        Elem::I16 => ("uint16_t", "y".to_string(), "RD16"),
        Elem::I32 => ("uint32_t", format!("{p}_acc"), "RD32"),
    };
    let start = match init {
        Some(values) => {
            let name = format!("{p}_l{k}_init");
            let ty = &acc_t[1..];
            let vals: Vec<String> = values.iter().map(|&v| signed(v)).collect();
            c.tables.push(table(ty, &name, &rom, &vals));
            c.rom_bytes += vals.len() * size_of(ty);
            format!("({acc_t}){up}_{rd}(&{name}[o])")
        }
        None => "0".to_string(),
    };
    // 16-bit products wrap as unsigned; 32-bit products of an int16 by an
    // int8 are exact in int32_t and only then reduced modulo 2^32.
    let product = match acc {
        Elem::I16 => "(uint16_t)((unsigned)xv * (uint16_t)wv)",
        Elem::I32 => "(uint32_t)((int32_t)PFX_s16(xv) * wv)",
    }
    .replace("PFX", p);
    c.comment.push(format!(
        "Convolution {} -> {}, {}, {groups} group(s), {} weights, {}-bit accumulators{}.",
        dims(input),
        dims(output),
        describe(&window),
        weights.kind(),
        acc.bits(),
        if init.is_some() {
            " starting at the bias"
        } else {
            ""
        }
    ));
    let (oh, ow, plane) = (output.height, output.width, output.plane());
    let in_plane = input.plane();
    let b = &mut c.body;
    let _ = writeln!(
        b,
        "    for (unsigned o = 0; o < {}u; o++) {{",
        output.channels
    );
    let _ = writeln!(
        b,
        "        const uint16_t *xg = &x[(o / {per_out}u) * {}u];",
        per_in * in_plane
    );
    let _ = writeln!(b, "        const int8_t *wo = &{wname}[o * {taps}u];");
    let _ = writeln!(b, "        for (unsigned oy = 0; oy < {oh}u; oy++)");
    let _ = writeln!(b, "        for (unsigned ox = 0; ox < {ow}u; ox++) {{");
    let _ = writeln!(b, "            {acc_t} s = {start};");
    let _ = writeln!(
        b,
        "            for (unsigned ci = 0; ci < {per_in}u; ci++) {{"
    );
    b.push_str(&tap_loops(&window, input, "                "));
    let _ = writeln!(
        b,
        "                        const int8_t wv = (int8_t){up}_RD8(&wo[ci * {area}u + ky * {}u + kx]);\n\
         \x20                       const uint16_t xv = xg[ci * {in_plane}u + (unsigned)iy * {}u + (unsigned)ix];\n\
         \x20                       s += {product};\n\
         \x20                   }}\n\
         \x20               }}\n\
         \x20           }}\n\
         \x20           {acc_arr}[o * {plane}u + oy * {ow}u + ox] = s;\n\
         \x20       }}\n\
         \x20   }}",
        window.kernel[1], input.width
    );
}

/// A max pool (`scale` `None`) or an average pool's `(mul, shift)`.
fn pool(
    c: &mut WindowCode,
    p: &str,
    window: Window,
    input: Shape,
    output: Shape,
    scale: Option<(u8, u32)>,
) {
    let (oh, ow, plane) = (output.height, output.width, output.plane());
    let in_plane = input.plane();
    // The largest |sum · mul| decides whether 32 bits hold it exactly.
    let wide =
        scale.is_some_and(|(mul, _)| (window.area() as u64) * 32768 * mul as u64 > i32::MAX as u64);
    let sum_t = if wide { "int64_t" } else { "int32_t" };
    c.comment.push(match scale {
        None => format!(
            "Max pooling {} -> {}, {}: the largest element inside the map.",
            dims(input),
            dims(output),
            describe(&window)
        ),
        Some((mul, shift)) => format!(
            "Average pooling {} -> {}, {}: (sum of the elements inside the map) * {mul} >> {shift}.",
            dims(input),
            dims(output),
            describe(&window)
        ),
    });
    let b = &mut c.body;
    let _ = writeln!(
        b,
        "    for (unsigned o = 0; o < {}u; o++) {{",
        output.channels
    );
    let _ = writeln!(b, "        const uint16_t *xc = &x[o * {in_plane}u];");
    let _ = writeln!(b, "        for (unsigned oy = 0; oy < {oh}u; oy++)");
    let _ = writeln!(b, "        for (unsigned ox = 0; ox < {ow}u; ox++) {{");
    match scale {
        // Flipping the sign bit orders the bits as signed values; every
        // window holds at least one element, so the start (the least int16) is
        // replaced or is the answer.
        None => {
            let _ = writeln!(b, "            uint16_t best = 0x8000u;");
        }
        Some(_) => {
            let _ = writeln!(b, "            {sum_t} s = 0;");
        }
    }
    b.push_str(&tap_loops(&window, input, "            "));
    let _ = writeln!(
        b,
        "                    const uint16_t xv = xc[(unsigned)iy * {}u + (unsigned)ix];",
        input.width
    );
    match scale {
        None => {
            let _ = writeln!(
                b,
                "                    if ((xv ^ 0x8000u) > (best ^ 0x8000u))\n\
                 \x20                       best = xv;"
            );
        }
        Some(_) => {
            let _ = writeln!(b, "                    s += {p}_s16(xv);");
        }
    }
    let _ = writeln!(b, "                }}\n            }}");
    let store = match scale {
        None => "best".to_string(),
        // Floor division by 2^shift without shifting a negative value, which
        // C99 leaves to the implementation; the result wraps to 16 bits.
        Some((mul, shift)) => {
            let _ = writeln!(b, "            s *= {mul};");
            let _ = writeln!(
                b,
                "            s = s < 0 ? -((-(s + 1)) >> {shift}) - 1 : s >> {shift};"
            );
            "(uint16_t)s".to_string()
        }
    };
    let _ = writeln!(
        b,
        "            y[o * {plane}u + oy * {ow}u + ox] = {store};\n        }}\n    }}"
    );
}
