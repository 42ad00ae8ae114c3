//! Fuzz `model.npz` through load, optimize, every target's emission and run.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let d = common::with_example("model.npz", data);
    common::exercise(&d.path().join("model.yaml"));
});
