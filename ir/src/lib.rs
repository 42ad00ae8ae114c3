//! zlmc's graph IR: typed ops on a petgraph graph, their text form (`.zir`),
//! a verifier, and the reference interpreter every backend is held to.

pub mod graph;
pub mod interp;
pub mod model;
pub mod op;
pub mod tensor;
pub mod text;
pub mod types;
pub mod verify;

pub use graph::{Graph, Node, NodeId};
pub use model::{Decode, Encoder, InputQuant, Model, OutputQuant};
pub use op::{Activation, Op, Window};
pub use tensor::{DenseWeights, SparseWeights, Weights};
pub use types::{Elem, Shape, Type, WeightKind};
