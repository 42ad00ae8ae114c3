//! Value and weight types of the IR.

use std::fmt;

/// Element type of a vector value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    /// 16-bit two's complement, wrapping.
    I16,
    /// 32-bit two's complement, wrapping.
    I32,
}

impl Elem {
    /// Width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Elem::I16 => 16,
            Elem::I32 => 32,
        }
    }

    /// Reduce an integer modulo 2^bits and read it back as a signed value.
    pub fn wrap(self, v: i64) -> i64 {
        match self {
            Elem::I16 => v as i16 as i64,
            Elem::I32 => v as i32 as i64,
        }
    }

    /// The element type of an accumulator of `bits` bits, if supported.
    pub fn from_bits(bits: u32) -> Option<Elem> {
        match bits {
            16 => Some(Elem::I16),
            32 => Some(Elem::I32),
            _ => None,
        }
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Elem::I16 => "i16",
            Elem::I32 => "i32",
        })
    }
}

/// A feature map's shape, channel-major (PyTorch's NCHW without the batch):
/// element `(c, y, x)` sits at index `(c·height + y)·width + x`. A 1-D map
/// has height 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Number of channels.
    pub channels: usize,
    /// Rows (1 for a 1-D map).
    pub height: usize,
    /// Columns (the length of a 1-D map).
    pub width: usize,
}

impl Shape {
    /// Number of elements.
    pub fn len(self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether it holds no element.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether it is a 1-D map (height 1), written `[C, L]`.
    pub fn is_1d(self) -> bool {
        self.height == 1
    }

    /// Elements per channel.
    pub fn plane(self) -> usize {
        self.height * self.width
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_1d() {
            write!(f, "{}, {}", self.channels, self.width)
        } else {
            write!(f, "{}, {}, {}", self.channels, self.height, self.width)
        }
    }
}

/// The type of a value flowing along a graph edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// A vector of `len` integers.
    Vec { elem: Elem, len: usize },
    /// A feature map: `shape.len()` integers, channel-major.
    Map { elem: Elem, shape: Shape },
    /// A class index (result of `argmax`).
    Index,
}

impl Type {
    /// Shorthand for an i16 vector type.
    pub fn i16s(len: usize) -> Type {
        Type::Vec {
            elem: Elem::I16,
            len,
        }
    }

    /// Number of elements, if this is a vector or a map.
    pub fn len(self) -> Option<usize> {
        match self {
            Type::Vec { len, .. } => Some(len),
            Type::Map { shape, .. } => Some(shape.len()),
            Type::Index => None,
        }
    }

    /// The shape, if this is a feature map.
    pub fn shape(self) -> Option<Shape> {
        match self {
            Type::Map { shape, .. } => Some(shape),
            _ => None,
        }
    }

    /// Whether this is a vector of no elements.
    pub fn is_empty(self) -> bool {
        self.len() == Some(0)
    }

    /// Element type, if this is a vector or a map.
    pub fn elem(self) -> Option<Elem> {
        match self {
            Type::Vec { elem, .. } | Type::Map { elem, .. } => Some(elem),
            Type::Index => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Vec { elem, len } => write!(f, "{elem}[{len}]"),
            Type::Map { elem, shape } => write!(f, "{elem}[{shape}]"),
            Type::Index => f.write_str("index"),
        }
    }
}

/// How weights are quantized: the set of values a weight may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightKind {
    /// {-2, -1, 0, +1}: z80ai's 2-bit weights.
    Int2,
    /// {-1, 0, +1}.
    Ternary,
    /// {-1, +1}.
    Binary,
    /// -8 ..= 7.
    Int4,
    /// -128 ..= 127.
    Int8,
}

impl WeightKind {
    /// All kinds, in the order they are documented.
    pub const ALL: [WeightKind; 5] = [
        WeightKind::Int2,
        WeightKind::Ternary,
        WeightKind::Binary,
        WeightKind::Int4,
        WeightKind::Int8,
    ];

    /// The spelling used in YAML specs and `.zir` files.
    pub fn name(self) -> &'static str {
        match self {
            WeightKind::Int2 => "int2",
            WeightKind::Ternary => "ternary",
            WeightKind::Binary => "binary",
            WeightKind::Int4 => "int4",
            WeightKind::Int8 => "int8",
        }
    }

    /// Parse the spelling used in specs and `.zir` files.
    pub fn from_name(s: &str) -> Option<WeightKind> {
        WeightKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Smallest and largest allowed value.
    pub fn range(self) -> (i8, i8) {
        match self {
            WeightKind::Int2 => (-2, 1),
            WeightKind::Ternary | WeightKind::Binary => (-1, 1),
            WeightKind::Int4 => (-8, 7),
            WeightKind::Int8 => (-128, 127),
        }
    }

    /// Whether `v` is a value this kind can hold.
    pub fn allows(self, v: i64) -> bool {
        let (lo, hi) = self.range();
        v >= lo as i64 && v <= hi as i64 && !(self == WeightKind::Binary && v == 0)
    }

    /// Every value this kind can hold, ascending.
    pub fn values(self) -> Vec<i8> {
        let (lo, hi) = self.range();
        (lo..=hi).filter(|&v| self.allows(v as i64)).collect()
    }
}

impl fmt::Display for WeightKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
