//! Writes a fixed set of seeded random models as `.zir` files into a folder:
//! every weight kind with both accumulators, raw, text and chat models,
//! z80ai-shaped ones and the dense benchmark MLPs. `scripts/compare-outputs.sh`
//! builds them for every target and board to show that a refactor left the
//! generated files byte-identical.
//!
//!     cargo run -p zlmc-test-support --bin write-random-models -- DIR

use std::path::PathBuf;

use zlmc_ir::{Elem, Model, WeightKind};
use zlmc_test_support::models::{
    dense_mlp, random_model, random_model_of, random_text_model, z80ai_model,
};
use zlmc_test_support::Rng;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write-random-models DIR");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    let write = |name: &str, m: Model| {
        let path = dir.join(format!("{name}.zir"));
        if let Err(e) = std::fs::write(&path, zlmc_ir::text::print_model(&m)) {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let mut rng = Rng::new(20261207);
    for i in 0..40 {
        let name = format!("r{i}");
        write(&name, random_model(&mut rng, &name));
    }
    for (k, kind) in WeightKind::ALL.iter().enumerate() {
        for acc in [Elem::I16, Elem::I32] {
            for j in 0..3 {
                let name = format!("k{k}{}{j}", acc.bits());
                write(&name, random_model_of(&mut rng, &name, *kind, acc, 64));
            }
        }
    }
    for i in 0..12 {
        let (classify, chat) = (format!("tc{i}"), format!("tg{i}"));
        write(&classify, random_text_model(&mut rng, &classify, false, 96));
        write(&chat, random_text_model(&mut rng, &chat, true, 96));
    }
    for i in 0..3 {
        let name = format!("za{i}");
        write(&name, z80ai_model(&mut rng, &name, &[64, 32], 40, 74, 12));
    }
    let shape = [64, 32, 16, 10];
    let mlp = dense_mlp(&mut rng, "mlp", WeightKind::Int8, Elem::I16, &shape);
    write("mlp", mlp);
    let mlp4 = dense_mlp(&mut rng, "mlp4", WeightKind::Int4, Elem::I32, &shape);
    write("mlp4", mlp4);
}
