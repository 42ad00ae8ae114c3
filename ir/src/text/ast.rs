//! What the grammar produces: the file as written, with byte offsets kept so the
//! semantic checks in [`super::lower`] can point at the offending text.

use crate::types::Elem;

/// A value and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// Byte offset into the source.
    pub at: usize,
    /// The value.
    pub v: T,
}

/// An integer literal.
pub type Num = Spanned<i128>;

/// A whole `.zir` file.
#[derive(Debug, Clone)]
pub struct FileAst<'a> {
    /// The model name, undecoded bytes.
    pub name: Spanned<Vec<u8>>,
    /// `encode` lines, in order.
    pub encoders: Vec<Section<'a>>,
    /// The `decode` line.
    pub decode: Section<'a>,
    /// Node definitions, in order.
    pub nodes: Vec<NodeAst<'a>>,
}

/// An `encode` or `decode` line: `kind(field: value, ...)`.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Encoder or decoder name.
    pub kind: Spanned<&'a str>,
    /// Fields as written.
    pub fields: Vec<Field<'a>>,
    /// Offset of the closing `)`, where a missing field is reported.
    pub close: usize,
}

/// `name: value` inside an `encode`/`decode` line.
#[derive(Debug, Clone)]
pub struct Field<'a> {
    /// Field name.
    pub name: Spanned<&'a str>,
    /// Field value.
    pub value: Spanned<Value>,
}

/// A field value.
#[derive(Debug, Clone)]
pub enum Value {
    /// An integer.
    Int(i128),
    /// A string's bytes.
    Str(Vec<u8>),
    /// A decimal number with a fraction or exponent, as written.
    Float(String),
    /// A list of strings.
    List(Vec<Spanned<Vec<u8>>>),
}

/// `%name = op : type`.
#[derive(Debug, Clone)]
pub struct NodeAst<'a> {
    /// The defined name, with `%`.
    pub name: Spanned<&'a str>,
    /// The operation.
    pub op: OpAst<'a>,
    /// The annotated type.
    pub ty: Spanned<TypeAst>,
}

/// A type as written.
#[derive(Debug, Clone)]
pub enum TypeAst {
    /// `i16[N]` (a vector), `i16[C, L]` or `i16[C, H, W]` (a map); any
    /// other number of dimensions is reported when lowered.
    Vec(Elem, Vec<Num>),
    /// `index`.
    Index,
}

/// A use of a node by name.
pub type Operand<'a> = Spanned<&'a str>;

/// An operation as written.
#[derive(Debug, Clone)]
pub enum OpAst<'a> {
    /// `input`.
    Input,
    /// `matmul %x, WEIGHTS, acc ELEM`.
    MatMul {
        x: Operand<'a>,
        weights: WeightsAst<'a>,
        acc: Elem,
    },
    /// `bias %x, [v, ...]`.
    Bias { x: Operand<'a>, values: Vec<Num> },
    /// `shift %x, N`.
    Shift { x: Operand<'a>, amount: Num },
    /// `relu %x`, `clamp %x, lo A, hi B`, ...
    Activate { x: Operand<'a>, act: ActAst<'a> },
    /// `NAME %x, ARG, ...`: an activation with arguments, or an unknown op.
    Named {
        kind: Spanned<&'a str>,
        rest: Option<(Operand<'a>, Vec<ArgAst<'a>>)>,
    },
    /// `epilogue %x, bias [..], shift N[, ACTIVATION]`.
    Epilogue {
        x: Operand<'a>,
        bias: Vec<Num>,
        shift: Num,
        act: Option<ActAst<'a>>,
    },
    /// `argmax %x`.
    Argmax { x: Operand<'a> },
    /// `NAME %x, [n, ...]`: `reshape`.
    Shaped {
        kind: Spanned<&'a str>,
        x: Operand<'a>,
        dims: Vec<Num>,
    },
    /// `NAME %x, ARG, ..., WEIGHTS, acc ELEM`: `conv`.
    Weighted {
        kind: Spanned<&'a str>,
        x: Operand<'a>,
        args: Vec<ArgAst<'a>>,
        weights: WeightsAst<'a>,
        acc: Elem,
    },
}

/// `dense|sparse KIND[rows, cols] [ rows... ]`.
#[derive(Debug, Clone)]
pub struct WeightsAst<'a> {
    /// The weight kind's name, checked later.
    pub kind: Spanned<&'a str>,
    /// Declared row count.
    pub rows: Num,
    /// Declared column count.
    pub cols: Num,
    /// Offset of the `[` opening the row list.
    pub open: usize,
    /// The rows.
    pub body: Rows,
}

/// The rows of a matrix, in the layout they were written in.
#[derive(Debug, Clone)]
pub enum Rows {
    /// Every value of every row.
    Dense(Vec<Spanned<Vec<Num>>>),
    /// `col:value` entries of every row.
    Sparse(Vec<Spanned<Vec<(Num, Num)>>>),
}

/// An activation as written: `relu`, or a name with `name value` arguments.
#[derive(Debug, Clone)]
pub enum ActAst<'a> {
    /// `relu`.
    Relu,
    /// `clamp lo A, hi B`, `leaky_relu mul M, shift S`, `lut lo A, table [..]`.
    Named {
        /// The activation's name, checked later.
        kind: Spanned<&'a str>,
        /// Its arguments, in order.
        args: Vec<ArgAst<'a>>,
    },
}

/// `name value` inside an activation.
#[derive(Debug, Clone)]
pub struct ArgAst<'a> {
    /// Argument name.
    pub name: Spanned<&'a str>,
    /// Its value.
    pub value: Spanned<ArgValue>,
}

/// An activation argument's value.
#[derive(Debug, Clone)]
pub enum ArgValue {
    /// An integer.
    Int(i128),
    /// A list of integers.
    List(Vec<Num>),
}
