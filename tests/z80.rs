//! The Z80 backend: CP/M programs run on zlmc's Z80 emulator give the
//! interpreter's replies bit for bit, and their `.asm` assembles with z80asm
//! and pasmo to the very bytes of zlmc's `.COM`.

use std::path::Path;
use std::process::Command;

use zlmc::simulate::z80_reply;
use zlmc_ir::{interp, Model, WeightKind};
use zlmc_tests::{random_text_model, repo, scratch, skip, tinychat_dir, zlmc, Rng};

fn build(model: &Model) -> zlmc_backends::z80::Z80Files {
    let mut m = model.clone();
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    zlmc_tests::z80_files(&m, "random").unwrap_or_else(|e| panic!("{}: {e}", model.name))
}

fn random_query(rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(1, 40) as usize;
    (0..len)
        .map(|_| rng.pick(b"abcdefghijklmnopqrstuvwxyz ABCXYZ?!,.'0123456789  "))
        .collect()
}

#[test]
fn random_models_agree_with_the_interpreter_on_the_emulator() {
    let mut rng = Rng::new(0x0280_2026);
    let mut outputs = 0;
    let mut models = 0;
    while models < 100 {
        let generate = models % 2 == 0;
        let m = random_text_model(&mut rng, &format!("z{models}"), generate, 200);
        let kind = match &m
            .graph
            .node(m.graph.find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))[0])
            .op
        {
            zlmc_ir::Op::MatMul { weights, .. } => weights.kind(),
            _ => unreachable!(),
        };
        if kind == WeightKind::Int8 {
            // int8 weights become up to 128 repeated entries; the layout's
            // per-column limit is checked by the build itself (see z80 docs).
            continue;
        }
        let z = build(&m);
        for k in 0..4 {
            let q = if k == 0 {
                b"   ".to_vec()
            } else {
                random_query(&mut rng)
            };
            let want = interp::reply(&m, &q).0;
            let got = z80_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_eq!(
                String::from_utf8_lossy(&got.reply),
                String::from_utf8_lossy(&want),
                "model {} query {:?}",
                m.name,
                String::from_utf8_lossy(&q)
            );
            assert!(got.highest_write < 0xDC00, "writes stay below the CCP");
            outputs += 1;
        }
        models += 1;
    }
    assert_eq!(outputs, 400);
}

fn assembler(tool: &str, asm: &Path, out: &Path) -> Vec<u8> {
    let status = match tool {
        "z80asm" => Command::new("z80asm").arg("-o").arg(out).arg(asm).status(),
        _ => Command::new("pasmo").arg(asm).arg(out).status(),
    }
    .unwrap_or_else(|e| {
        panic!("{tool} is needed (Debian package {tool}; scripts/setup.sh installs it): {e}")
    });
    assert!(status.success(), "{tool} failed on {}", asm.display());
    std::fs::read(out).unwrap()
}

#[test]
fn asm_assembles_to_the_com_with_z80asm_and_pasmo() {
    let dir = scratch("z80-assemblers");
    let mut rng = Rng::new(77);
    let mut specs: Vec<Model> = (0..4)
        .map(|i| random_text_model(&mut rng, &format!("a{i}"), i % 2 == 0, 60))
        .collect();
    specs.retain(|m| {
        !matches!(&m.graph.node(m.graph.find(|op| matches!(op, zlmc_ir::Op::MatMul { .. }))[0]).op,
            zlmc_ir::Op::MatMul { weights, .. } if weights.kind() == WeightKind::Int8)
    });
    let example = zlmc::driver::load(&repo().join("examples/commands/model.yaml")).unwrap();
    specs.push(example);
    for m in &specs {
        let z = build(m);
        let asm = dir.join(&z.asm_name);
        std::fs::write(&asm, &z.asm).unwrap();
        for tool in ["z80asm", "pasmo"] {
            let bytes = assembler(tool, &asm, &dir.join(format!("{}.{tool}.bin", m.name)));
            assert!(bytes == z.com, "{tool} disagrees with zlmc on {}", m.name);
        }
    }
}

#[test]
fn tinychat_reproduces_expected_tsv_on_the_emulator() {
    let Some(dir) = tinychat_dir() else {
        return skip(
            "tinychat_reproduces_expected_tsv_on_the_emulator",
            "../shared/z80ai/tinychat is not beside the repository",
        );
    };
    let out = scratch("z80-tinychat");
    let r = zlmc(
        &[
            "import",
            "z80ai",
            dir.join("model.npz").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let queries: String = tsv
        .lines()
        .map(|l| format!("{}\n", l.split('\t').next().unwrap()))
        .collect();
    let r = zlmc(
        &[
            "sim",
            out.join("model.yaml").to_str().unwrap(),
            "--target",
            "z80",
            "--batch",
        ],
        &queries,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let differ = r
        .stdout
        .lines()
        .zip(tsv.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "{differ} of 2,290 replies differ");
    assert_eq!(r.stdout, tsv);
}

#[test]
fn example_asm_snapshot() {
    let rel = "examples/commands/model.yaml";
    let mut m = zlmc::driver::load(&repo().join(rel)).unwrap();
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).unwrap();
    let z = zlmc_tests::z80_files(&m, rel).unwrap();
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(repo().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_suffix("commands");
    s.bind(|| insta::assert_snapshot!("z80-asm", z.asm));
}
