//! Fuzz ONNX files through `import onnx` (float model, then int8 calibrated on the
//! handmade fixture's data), and what it writes through every target.
#![no_main]

mod common;

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let d = tempfile::tempdir().unwrap();
    let onnx = d.path().join("model.onnx");
    std::fs::write(&onnx, data).unwrap();
    let calib = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/onnx/handmade_gemm.io.npz");
    let out = d.path().join("imported");
    let args = [
        "zlmc",
        "import",
        "onnx",
        onnx.to_str().unwrap(),
        "--calibrate",
        calib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    let mut err = Vec::new();
    let code = zlmc::cli::run(
        args.iter().map(Into::into).collect(),
        &mut std::io::empty(),
        &mut std::io::sink(),
        &mut err,
    );
    let err = String::from_utf8_lossy(&err);
    assert!(!err.contains("internal error"), "{err}");
    match code {
        0 => common::exercise(&out.join("model.yaml")),
        1 => assert!(!out.exists(), "a failed import wrote {}", out.display()),
        c => panic!("exit {c}: {err}"),
    }
});
