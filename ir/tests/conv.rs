//! Feature maps, convolutions and pooling: the interpreter against hand
//! computation, the text form, and the verifier's shape rules.

use zlmc_ir::interp::{eval, step, Value};
use zlmc_ir::text::{parse_model, print_model};
use zlmc_ir::verify::verify_model;
use zlmc_ir::{Model, Op, Shape, Window};

/// A raw-input model of `len` inputs and `classes` labels around `body`
/// (nodes from `%1` on).
fn model(len: usize, classes: usize, body: &str) -> Model {
    let labels: Vec<String> = (0..classes).map(|i| format!("\"c{i}\"")).collect();
    let text = format!(
        "zir 1\nmodel \"m\"\nencode raw(length: {len})\ndecode classify(labels: [{}])\n\n\
         %0 = input : i16[{len}]\n{body}",
        labels.join(", ")
    );
    let m = parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verify_model(&m).unwrap_or_else(|e| panic!("{e}\n{text}"));
    m
}

/// The value of the node printed as `%k`.
fn value_of(m: &Model, input: &[i16], k: usize) -> Vec<i64> {
    let order = m.graph.topo_order().unwrap();
    match &eval(&m.graph, input)[&order[k]] {
        Value::Vec(v) => v.clone(),
        Value::Index(_) => panic!("%{k} is an index"),
    }
}

#[test]
fn a_padded_2d_convolution_sums_the_taps_inside_the_map() {
    // 1 channel 3x3 → 2 channels 3x3, kernel 3x3, padding 1: channel 0 sums
    // the whole window (ones), channel 1 takes the centre tap twice.
    let m = model(
        9,
        2,
        "%1 = reshape %0, [1, 3, 3] : i16[1, 3, 3]\n\
         %2 = conv %1, kernel [3, 3], stride [1, 1], pad [1, 1, 1, 1], groups 1, dense int8[2, 9] [\n\
           [1 1 1 1 1 1 1 1 1]\n  [0 0 0 0 2 0 0 0 0]\n], acc i32 : i32[2, 3, 3]\n\
         %3 = epilogue %2, bias [100, -1], shift 0 : i16[2, 3, 3]\n\
         %4 = maxpool %3, kernel [3, 3], stride [1, 1], pad [0, 0, 0, 0] : i16[2, 1, 1]\n\
         %5 = flatten %4 : i16[2]\n%6 = argmax %5 : index\n",
    );
    let x: Vec<i16> = (1..=9).collect();
    // Window sums of 1..9 on a 3x3 grid with zero padding.
    let sums = [12, 21, 16, 27, 45, 33, 24, 39, 28];
    let want: Vec<i64> = sums
        .iter()
        .copied()
        .chain(x.iter().map(|&v| 2 * v as i64))
        .collect();
    assert_eq!(value_of(&m, &x, 2), want);
    // Per-channel bias: 100 on channel 0, -1 on channel 1.
    let biased: Vec<i64> = want
        .iter()
        .enumerate()
        .map(|(i, &v)| v + if i < 9 { 100 } else { -1 })
        .collect();
    assert_eq!(value_of(&m, &x, 3), biased);
    assert_eq!(value_of(&m, &x, 4), vec![145, 17]);
    let r = step(&m.graph, &x);
    assert_eq!((r.logits, r.class), (vec![145, 17], 0));
}

#[test]
fn strides_groups_and_a_1d_average_pool_follow_the_definition() {
    // Two channels of length 5, depthwise (groups 2) kernel 3 stride 2 pad 1:
    // channel c's output j reads inputs 2j-1, 2j, 2j+1 of channel c.
    let m = model(
        10,
        2,
        "%1 = reshape %0, [2, 5] : i16[2, 5]\n\
         %2 = conv %1, kernel [3], stride [2], pad [1, 1], groups 2, dense int4[2, 3] [\n\
           [1 -2 3]\n  [-1 0 1]\n], acc i16 : i16[2, 3]\n\
         %3 = avgpool %2, kernel [2], stride [1], pad [0, 1], mul 3, shift 2 : i16[2, 3]\n\
         %4 = flatten %3 : i16[6]\n\
         %5 = matmul %4, dense int8[2, 6] [\n  [1 0 0 0 0 0]\n  [0 0 0 0 0 1]\n], acc i16 : i16[2]\n\
         %6 = argmax %5 : index\n",
    );
    let x: Vec<i16> = vec![1, 2, 3, 4, 5, -1, -2, -3, -4, -5];
    let at = |c: usize, i: isize| -> i64 {
        if (0..5).contains(&i) {
            x[c * 5 + i as usize] as i64
        } else {
            0
        }
    };
    let w = [[1, -2, 3], [-1, 0, 1]];
    let mut conv = Vec::new();
    for (c, wc) in w.iter().enumerate() {
        for j in 0..3isize {
            conv.push(
                (0..3)
                    .map(|t| wc[t] * at(c, 2 * j - 1 + t as isize))
                    .sum::<i64>(),
            );
        }
    }
    assert_eq!(value_of(&m, &x, 2), conv);
    // Windows of 2 with one padding element on the right; (sum · 3) >> 2,
    // rounding toward −∞.
    let mut pooled = Vec::new();
    for c in 0..2 {
        for j in 0..3 {
            let s = conv[c * 3 + j] + if j < 2 { conv[c * 3 + j + 1] } else { 0 };
            pooled.push((s * 3) >> 2);
        }
    }
    assert_eq!(value_of(&m, &x, 3), pooled);
}

#[test]
fn maps_and_window_ops_round_trip_through_text() {
    let m = model(
        8,
        3,
        "%1 = reshape %0, [2, 2, 2] : i16[2, 2, 2]\n\
         %2 = conv %1, kernel [2, 1], stride [1, 1], pad [1, 0, 0, 0], groups 1, sparse ternary[3, 4] [\n\
           [0:1 3:-1]\n  []\n  [1:1]\n], acc i32 : i32[3, 2, 2]\n\
         %3 = bias %2, [1, -2, 3] : i32[3, 2, 2]\n%4 = shift %3, 1 : i16[3, 2, 2]\n\
         %5 = relu %4 : i16[3, 2, 2]\n\
         %6 = avgpool %5, kernel [2, 2], stride [2, 2], pad [0, 0, 0, 0], mul 64, shift 8 : i16[3, 1, 1]\n\
         %7 = flatten %6 : i16[3]\n%8 = argmax %7 : index\n",
    );
    let printed = print_model(&m);
    let again = parse_model(&printed).expect("printed text parses");
    assert_eq!(again, m);
    assert_eq!(print_model(&again), printed);
    assert!(printed.contains("%2 = conv %1, kernel [2, 1], stride [1, 1], pad [1, 0, 0, 0], groups 1, sparse ternary[3, 4] ["));
    // A 1-D window is printed 1-D.
    let m1 = model(
        6,
        2,
        "%1 = reshape %0, [1, 6] : i16[1, 6]\n\
         %2 = maxpool %1, kernel [3], stride [3], pad [0, 0] : i16[1, 2]\n\
         %3 = flatten %2 : i16[2]\n%4 = argmax %3 : index\n",
    );
    assert!(print_model(&m1).contains("maxpool %1, kernel [3], stride [3], pad [0, 0] : i16[1, 2]"));
    let Op::MaxPool { window } = &m1.graph.node(m1.graph.topo_order().unwrap()[2]).op else {
        panic!("expected maxpool");
    };
    assert_eq!(
        *window,
        Window {
            kernel: [1, 3],
            stride: [1, 3],
            pads: [0, 0, 0, 0]
        }
    );
    assert_eq!(
        m1.graph.node(m1.graph.topo_order().unwrap()[2]).ty.shape(),
        Some(Shape {
            channels: 1,
            height: 1,
            width: 2
        })
    );
}

/// The error parsing and verifying `body` gives.
fn error(len: usize, body: &str) -> String {
    let text = format!(
        "zir 1\nmodel \"m\"\nencode raw(length: {len})\ndecode classify(labels: [\"a\", \"b\"])\n\n\
         %0 = input : i16[{len}]\n{body}"
    );
    match parse_model(&text) {
        Err(e) => e.to_string(),
        Ok(m) => verify_model(&m).expect_err("must not verify").to_string(),
    }
}

#[test]
fn shapes_are_checked_where_they_are_written() {
    let e = error(8, "%1 = reshape %0, [3, 3] : i16[3, 3]\n");
    assert!(
        e.contains("reshape to [3, 3] needs 9 elements, the operand has 8"),
        "{e}"
    );
    let e = error(
        8,
        "%1 = maxpool %0, kernel [2], stride [2], pad [0, 0] : i16[1, 4]\n",
    );
    assert!(
        e.contains("maxpool needs an i16 map operand, has i16[8]"),
        "{e}"
    );
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = matmul %1, dense int8[1, 8] [\n  [0 0 0 0 0 0 0 0]\n], acc i16 : i16[1]\n",
    );
    assert!(e.contains("flatten it first"), "{e}");
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = conv %1, kernel [3], stride [1], pad [3, 0], groups 1, dense int8[1, 6] [\n  [0 0 0 0 0 0]\n], acc i16 : i16[1, 4]\n",
    );
    assert!(
        e.contains("padding [0, 3, 0, 0] must be smaller than the kernel [1, 3]"),
        "{e}"
    );
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = conv %1, kernel [3], stride [1], pad [0, 0], groups 2, dense int8[3, 3] [\n  [0 0 0]\n  [0 0 0]\n  [0 0 0]\n], acc i16 : i16[3, 2]\n",
    );
    assert!(
        e.contains("2 groups must divide the 2 input and 3 output channels"),
        "{e}"
    );
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = conv %1, kernel [3], stride [1], pad [0, 0], groups 1, dense int8[1, 3] [\n  [0 0 0]\n], acc i16 : i16[1, 2]\n",
    );
    assert!(
        e.contains(
            "conv weights have 3 columns, 2 input channels per group times a 1x3 kernel need 6"
        ),
        "{e}"
    );
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = bias %1, [1, 2, 3] : i16[2, 4]\n",
    );
    assert!(e.contains("bias has 3 values for 2 elements"), "{e}");
    let e = error(
        8,
        "%1 = reshape %0, [2, 4] : i16[2, 4]\n%2 = avgpool %1, kernel [2], stride [2], pad [0, 0], mul 0, shift 1 : i16[2, 2]\n",
    );
    assert!(e.contains("avgpool needs 1 <= mul <= 255"), "{e}");
    let e = error(8, "%1 = reshape %0, [2, 2, 2, 1] : i16[2, 2, 2, 1]\n");
    assert!(
        e.contains("a shape has 1 (vector), 2 (C, L) or 3 (C, H, W) dimensions, not 4"),
        "{e}"
    );
}
