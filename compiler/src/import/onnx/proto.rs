//! The subset of `onnx.proto` the reader needs, as `prost` messages.
//!
//! Written by hand from ONNX's `onnx.proto` (IR version 10), keeping the field
//! numbers; every field not listed here is skipped by the decoder, so models
//! that use them still load. Field numbers are the wire format: never renumber.

/// `ModelProto`: the file's top-level message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// ONNX IR version the file was written for.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets the graph uses, by domain.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// The tool that wrote the file (`pytorch`, `skl2onnx`, `tf2onnx`).
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `OperatorSetIdProto`: one imported operator set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// Domain (`""` is the default `ai.onnx`).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Opset version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `GraphProto`: nodes in topological order, constants, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// The nodes, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights).
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Sparse constant tensors (not supported; listed to be refused).
    #[prost(message, repeated, tag = "15")]
    pub sparse_initializer: Vec<SparseTensorProto>,
    /// Graph inputs (may also list initializers, in old IR versions).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Input value names (`""` marks an omitted optional input).
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator name.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Operator domain (`""` or `ai.onnx` for the standard set).
    #[prost(string, tag = "7")]
    pub domain: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `AttributeProto`: a named attribute value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// A reference to a function's attribute (only valid inside functions).
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// Which value field is set (`AttributeType`).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// FLOAT value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// INT value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// STRING value (bytes, UTF-8 by convention).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// TENSOR value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// FLOATS value.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// INTS value.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// STRINGS value.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
}

/// `AttributeProto.AttributeType` values the reader uses.
pub mod attr_type {
    /// One float.
    pub const FLOAT: i32 = 1;
    /// One integer.
    pub const INT: i32 = 2;
    /// One string.
    pub const STRING: i32 = 3;
    /// One tensor.
    pub const TENSOR: i32 = 4;
    /// A list of floats.
    pub const FLOATS: i32 = 6;
    /// A list of integers.
    pub const INTS: i32 = 7;
    /// A list of strings.
    pub const STRINGS: i32 = 8;
}

/// `ValueInfoProto`: a named, typed value (graph input or output).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`, tensor case only (sequences and maps decode as "no tensor type").
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// Set when the value is a tensor.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeTensor>,
}

/// `TypeProto.Tensor`: element type and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeTensor {
    /// Element type (`TensorProto.DataType`).
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Shape, when declared.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`: the dimensions of a value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a known size or a symbolic name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dimension {
    /// Known size (`oneof value`, case 1).
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    /// Symbolic size such as `batch` (`oneof value`, case 2).
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// `TensorProto`: a constant tensor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Dimensions, outermost first.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type (`DataType`).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Present when the tensor is one segment of a larger one (not supported).
    #[prost(message, optional, tag = "3")]
    pub segment: Option<Segment>,
    /// FLOAT values.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// INT32 (and smaller integer) values.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// STRING values.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// INT64 values.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Tensor name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Values as little-endian bytes (any fixed-size type).
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// Where external data lives (`location`, `offset`, `length`).
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// `DEFAULT` (0) or `EXTERNAL` (1).
    #[prost(int32, tag = "14")]
    pub data_location: i32,
    /// DOUBLE values.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
}

/// `TensorProto.Segment`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Segment {
    /// First index.
    #[prost(int64, tag = "1")]
    pub begin: i64,
    /// One past the last index.
    #[prost(int64, tag = "2")]
    pub end: i64,
}

/// `SparseTensorProto` (only detected, never read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SparseTensorProto {
    /// The dense shape.
    #[prost(int64, repeated, tag = "3")]
    pub dims: Vec<i64>,
}

/// `StringStringEntryProto`: a key/value pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `TensorProto.DataType` values the reader understands.
pub mod data_type {
    /// 32-bit float.
    pub const FLOAT: i32 = 1;
    /// 32-bit signed integer.
    pub const INT32: i32 = 6;
    /// 64-bit signed integer.
    pub const INT64: i32 = 7;
    /// UTF-8 string.
    pub const STRING: i32 = 8;
    /// 64-bit float.
    pub const DOUBLE: i32 = 11;

    /// The ONNX name of a data type, for messages.
    pub fn name(t: i32) -> &'static str {
        match t {
            0 => "undefined",
            1 => "float",
            2 => "uint8",
            3 => "int8",
            4 => "uint16",
            5 => "int16",
            6 => "int32",
            7 => "int64",
            8 => "string",
            9 => "bool",
            10 => "float16",
            11 => "double",
            12 => "uint32",
            13 => "uint64",
            14 => "complex64",
            15 => "complex128",
            16 => "bfloat16",
            _ => "an unknown type",
        }
    }
}
