//! Fuzz a `.safetensors` weights file under the example spec.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let d = common::with_example("model.safetensors", data);
    let spec = std::fs::read_to_string(d.path().join("model.yaml")).unwrap();
    std::fs::write(
        d.path().join("model.yaml"),
        spec.replace("model.npz", "model.safetensors"),
    )
    .unwrap();
    common::exercise(&d.path().join("model.yaml"));
});
// ONNX import will get its own target here once compiler/src/onnx lands.
