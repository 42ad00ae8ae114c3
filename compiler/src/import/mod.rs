//! Reading models other tools wrote: z80ai's exports become a spec here, ONNX
//! float graphs a float model that `crate::quant` quantizes.

pub mod onnx;
pub mod z80ai;
