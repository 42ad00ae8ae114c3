//! `.zir` errors: every kind is reported at the line and column of the text at fault.

use zlmc_ir::text::{parse_model, ParseError};

const BASE: &str = r#"zir 1
model "m"
encode raw(length: 3)
decode classify(labels: ["a", "b"])

%0 = input : i16[3]
%1 = matmul %0, dense int2[2, 3] [
  [0 1 -1]
  [-2 0 1]
], acc i16 : i16[2]
%2 = argmax %1 : index
"#;

/// `BASE` with line `line` (1-based) replaced.
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines[line - 1] = text;
    lines.join("\n") + "\n"
}

fn err(src: &str) -> ParseError {
    parse_model(src).expect_err("should be rejected")
}

#[track_caller]
fn check(src: &str, line: usize, col: usize, message: &str) {
    let e = err(src);
    assert_eq!(
        (e.line, e.col),
        (line, col),
        "wrong position for `{}`",
        e.message
    );
    assert!(
        e.message.contains(message),
        "`{}` does not mention `{message}`",
        e.message
    );
}

/// `BASE` with line `line` replaced by `text`: refused at `at`.
#[track_caller]
fn check_line(line: usize, text: &str, at: (usize, usize), message: &str) {
    check(&with_line(line, text), at.0, at.1, message);
}

/// `BASE` with `edit.0` replaced by `edit.1`: refused at `at`.
#[track_caller]
fn check_edit(edit: (&str, &str), at: (usize, usize), message: &str) {
    check(&BASE.replace(edit.0, edit.1), at.0, at.1, message);
}

#[test]
fn base_is_valid() {
    parse_model(BASE).unwrap();
}

#[test]
fn display_shows_line_col_and_message() {
    let e = err(&with_line(1, "zir 2"));
    assert_eq!(e.to_string(), "1:5: unsupported zir version 2");
}

#[test]
fn lexical_errors() {
    check_line(
        6,
        "%0 = input : i16[3] $",
        (6, 21),
        "unexpected character `$`",
    );
    check_line(2, "model \"m", (2, 7), "unterminated string");
    check_line(2, "model \"m\\q\"", (2, 9), "unknown escape `\\q`");
    check_line(2, "model \"m\\x4\"", (2, 9), "two hex digits");
    check(
        &with_line(
            3,
            "encode raw(length: 99999999999999999999999999999999999999999)",
        ),
        3,
        20,
        "out of range",
    );
    // Columns count characters, not bytes.
    check_line(2, "model \"été\" $", (2, 13), "unexpected character");
    check_line(
        6,
        "%0 = input : i16[3] %",
        (6, 21),
        "unexpected character `%`",
    );
}

#[test]
fn grammar_errors() {
    check_line(1, "zir 2", (1, 5), "unsupported zir version 2");
    check_line(1, "zir", (2, 1), "unexpected \"model\", expected integer");
    check_line(
        6,
        "%0 input : i16[3]",
        (6, 4),
        "unexpected \"input\", expected \"=\"",
    );
    check_line(6, "%0 = input i16[3]", (6, 12), "expected \":\"");
    check_line(
        6,
        "%0 = inptu : i16[3]",
        (6, 6),
        "unknown operation `inptu`, expected one of",
    );
    check_line(
        11,
        "%2 = argmax %1 : index 5",
        (11, 24),
        "unexpected integer 5, expected",
    );
    check_line(
        5,
        "decode classify(labels: [\"c\"])",
        (5, 1),
        "unexpected \"decode\"",
    );
    check_line(4, "", (6, 1), "unexpected %0");
    let truncated = &BASE[..BASE.find("[-2").unwrap()];
    check(
        truncated,
        8,
        11,
        "unexpected end of input, expected one of \"[\", \"]\"",
    );
    check("", 1, 1, "unexpected end of input, expected \"zir\"");
}

#[test]
fn header_errors() {
    check_line(
        3,
        "encode hash(length: 3)",
        (3, 8),
        "unknown encoder `hash`",
    );
    check_line(
        3,
        "encode raw(len: 3)",
        (3, 12),
        "expected field `length` in raw, found `len`",
    );
    check_line(3, "encode raw()", (3, 12), "missing field `length` in raw");
    check_line(
        3,
        "encode raw(length: 3, value: 1)",
        (3, 23),
        "unexpected field `value`",
    );
    check_line(
        3,
        "encode raw(length: -3)",
        (3, 20),
        "length -3 is out of range for usize",
    );
    check_line(
        3,
        "encode raw(length: \"3\")",
        (3, 20),
        "length must be an integer",
    );
    check(
        &with_line(
            3,
            "encode query_trigram(buckets: 2, value: 40000) encode raw(length: 1)",
        ),
        3,
        41,
        "value 40000 is out of range for i16",
    );
    check_line(
        4,
        "decode classify(labels: \"a\")",
        (4, 25),
        "labels must be a list",
    );
    check_line(
        4,
        "decode classify(labels: [\"a\", \"\\xff\"])",
        (4, 31),
        "not valid UTF-8",
    );
    check_line(
        4,
        "decode sample(labels: [])",
        (4, 8),
        "unknown decoder `sample`",
    );
    check_line(
        2,
        "model \"\\xc3\"",
        (2, 7),
        "model name is not valid UTF-8",
    );
}

#[test]
fn node_errors() {
    check_line(11, "%2 = argmax %9 : index", (11, 13), "undefined %9");
    check_line(
        11,
        "%1 = argmax %1 : index",
        (11, 1),
        "%1 is already defined at 7:1",
    );
    check_line(
        7,
        "%1 = matmul %0, dense int3[2, 3] [",
        (7, 23),
        "unknown weight kind `int3`",
    );
    check_line(8, "  [0 5 -1]", (8, 6), "weight 5 is not an int2 value");
    check_line(
        9,
        "  [-2 0]",
        (9, 3),
        "row 1 has 2 values, the shape says 3",
    );
    check_line(
        7,
        "%1 = matmul %0, dense int2[3, 3] [",
        (7, 34),
        "the matrix has 2 rows, its shape says 3",
    );
    check_line(
        10,
        "], acc i16 : i16[3]",
        (10, 14),
        "%1 is annotated i16[3], but matmul yields i16[2]",
    );
    check_line(
        10,
        "], acc i32 : i32[2]",
        (11, 1),
        "argmax needs a non-empty i16 vector",
    );
    check_line(
        6,
        "%0 = input : index",
        (6, 14),
        "input must be typed i16[N]",
    );
    check_line(
        6,
        "%0 = input : i16[4]",
        (7, 1),
        "matmul weights have 3 columns",
    );
    check_edit(
        (
            "dense int2[2, 3] [\n  [0 1 -1]\n  [-2 0 1]\n]",
            "sparse int2[2, 3] [\n  [1:1 0:-1]\n  []\n]",
        ),
        (8, 8),
        "column 0 does not ascend",
    );
    check_edit(
        (
            "dense int2[2, 3] [\n  [0 1 -1]\n  [-2 0 1]\n]",
            "sparse int2[2, 3] [\n  [0:1 3:-1]\n  [1:0]\n]",
        ),
        (8, 8),
        "column 3 is out of range for 3 columns",
    );
    check_edit(
        (
            "dense int2[2, 3] [\n  [0 1 -1]\n  [-2 0 1]\n]",
            "sparse int2[2, 3] [\n  [0:1]\n  [1:0]\n]",
        ),
        (9, 6),
        "weight 0 is not a non-zero int2 value",
    );
    check_edit(
        (
            "%2 = argmax %1",
            "%s = shift %1, 16 : i16[2]\n%2 = argmax %s",
        ),
        (11, 1),
        "shift by 16 on i16",
    );
    check_edit(
        (
            "%2 = argmax %1",
            "%s = shift %1, -1 : i16[2]\n%2 = argmax %s",
        ),
        (11, 16),
        "shift amount -1 is out of range for u32",
    );
    check_edit(
        (
            "%2 = argmax %1",
            "%b = bias %1, [1, 32768] : i16[2]\n%2 = argmax %b",
        ),
        (11, 1),
        "bias value 32768 does not fit i16",
    );
    check_edit(
        (
            "%2 = argmax %1",
            "%b = bias %1, [1] : i16[2]\n%2 = argmax %b",
        ),
        (11, 1),
        "bias has 1 values for 2 elements",
    );
}

#[test]
fn verifier_errors_point_at_the_node_or_the_start() {
    // Names the argmax node.
    check_line(
        4,
        "decode classify(labels: [\"a\", \"b\", \"c\"])",
        (11, 1),
        "%2: the network has 2 outputs but the decoder names 3 classes",
    );
    // Names the input node.
    check_line(
        3,
        "encode raw(length: 4)",
        (6, 1),
        "%0: input has 3 elements but the encoders fill 4",
    );
    // Names no node.
    check_line(
        3,
        "encode query_trigram(buckets: 3, value: 1)",
        (1, 1),
        "3 buckets: must be a power of two",
    );
    check_line(
        4,
        "decode generate(charset: \"ab\", eos: 2, max_length: 5)",
        (1, 1),
        "end-of-sequence class 2 out of range",
    );
    check_edit(
        (
            "%2 = argmax %1 : index",
            "%2 = argmax %1 : index\n%3 = relu %1 : i16[2]",
        ),
        (1, 1),
        "the graph has 2 results",
    );
    check_edit(
        ("%2 = argmax %1 : index", "%r = relu %1 : i16[2]"),
        (11, 1),
        "%r: the graph must end in argmax",
    );
    let no_nodes = &BASE[..BASE.find("%0").unwrap()];
    check(no_nodes, 1, 1, "the graph is empty");
}

/// An activation between the matmul and argmax, as `edit` writes it.
fn with_activation(act: &str) -> String {
    BASE.replace(
        "%2 = argmax %1 : index",
        &format!("%2 = {act} : i16[2]\n%3 = argmax %2 : index"),
    )
}

#[test]
fn activation_errors() {
    let at = |src: &str, col: usize, message: &str| check(&with_activation(src), 11, col, message);
    at("clamp %1, lo 5, hi 4", 1, "clamp bounds 5 > 4");
    at("clamp %1, lo 0", 19, "clamp is missing its `hi` argument");
    at(
        "clamp %1, hi 4, lo 0",
        16,
        "expected argument `lo` of clamp, found `hi`",
    );
    at(
        "clamp %1, lo 0, hi 4, mul 2",
        28,
        "unexpected argument `mul` in clamp",
    );
    at(
        "clamp %1, lo 0, hi 40000",
        25,
        "clamp bound 40000 is out of range for i16",
    );
    at(
        "leaky_relu %1, mul 300, shift 9",
        25,
        "leaky_relu mul 300 is out of range for u8",
    );
    at("leaky_relu %1, mul 8, shift 3", 1, "mul < 2^shift");
    at("leaky_relu %1, mul 1, shift 16", 1, "1 <= shift <= 15");
    at("lut %1, lo 0, table 3", 26, "`table` must be a list");
    at(
        "lut %1, lo 0, table [1]",
        1,
        "lut needs 2 to 256 entries, has 1",
    );
    at(
        "lut %1, lo [1], table [1, 2]",
        17,
        "`lo` must be an integer",
    );
    at("clamp", 11, "clamp needs an operand");
    at(
        "epilogue %1, bias [0, 0], shift 0, lut lo 0, table [7]",
        1,
        "lut needs 2 to 256 entries",
    );
}
