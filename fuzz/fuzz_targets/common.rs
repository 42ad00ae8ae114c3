//! Shared by the targets: write the input to a file, load it, build for every target.

use std::path::Path;

use zlmc_backends::target::{Options, TARGETS};

/// Load `path` and emit for every registered target; internal errors are bugs.
pub fn exercise(path: &Path) {
    let Ok(mut model) = zlmc::driver::load(path) else {
        return;
    };
    if zlmc::driver::optimize(&mut model, &[], |_, _| {}).is_err() {
        return;
    }
    for t in TARGETS {
        let board = t.boards().first().map(|b| b.name);
        if let Err(d) = zlmc::driver::emit(*t, &model, path, Options { board, ..Options::default() }) {
            assert!(!d.to_string().contains("internal error"), "{d}");
        }
    }
    let mut out = Vec::new();
    let args = ["zlmc", "run", path.to_str().unwrap(), "--prompt", "lights on"];
    let code = zlmc::cli::run(
        args.iter().map(Into::into).collect(),
        &mut std::io::empty(),
        &mut out,
        &mut std::io::sink(),
    );
    assert!(code == 0 || code == 1, "exit {code}");
}

/// A folder holding the example spec and weights, with `name` replaced by `data`.
#[allow(dead_code)] // the onnx target makes its own folder
pub fn with_example(name: &str, data: &[u8]) -> tempfile::TempDir {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/commands");
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(ex.join("model.yaml"), d.path().join("model.yaml")).unwrap();
    std::fs::copy(ex.join("model.npz"), d.path().join("model.npz")).unwrap();
    std::fs::write(d.path().join(name), data).unwrap();
    d
}
