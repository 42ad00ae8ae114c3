//! Character models and training (issue 20): teacher-forced samples of
//! tinychat's training text, pruning and re-quantizing an integer-only model,
//! and the written result read back by `zlmc eval`.

use std::path::{Path, PathBuf};

use zlmc::evaluate::text::{read_lines, score};
use zlmc::train::{chat, text};
use zlmc_test_support::{scratch, skip, this_test, tinychat_dir, zlmc, zlmc_ok};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// tinychat imported into `dir`, and its training text.
fn tinychat_spec(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let Some(src) = tinychat_dir() else {
        skip(
            &this_test(),
            "../shared/z80ai/tinychat is not beside the repository",
        );
        return None;
    };
    let out = dir.join("tinychat");
    zlmc_ok(
        &["import", "z80ai", s(&src.join("model.npz")), "-o", s(&out)],
        "",
    );
    Some((out.join("model.yaml"), src.join("training-data.txt.gz")))
}

/// Every reply position `zlmc eval` scores is one sample, labelled with what
/// the next-character accuracy compares against.
#[test]
fn tinychat_samples_are_the_positions_eval_scores() {
    let dir = scratch("train-chat-samples");
    let Some((spec, data)) = tinychat_spec(dir.path()) else {
        return;
    };
    let model = zlmc::driver::load(&spec).unwrap();
    let lines = read_lines(&data).unwrap();
    let samples = text::samples_from_lines(&model, &lines).unwrap();
    assert_eq!(lines.len(), 3002);
    assert_eq!(samples.len(), 14848);
    assert_eq!(samples.group_count(), 2290);
    // Every 7th line: the teacher-forced hits are exactly eval's.
    let some: Vec<_> = lines.iter().step_by(7).cloned().collect();
    let sub = text::samples_from_lines(&model, &some).unwrap();
    let hits = sub
        .inputs
        .iter()
        .zip(&sub.labels)
        .filter(|(x, &y)| zlmc_ir::interp::step(&model.graph, x).class == y as usize)
        .count();
    let scored = score(&model, &some).unwrap();
    assert_eq!(hits, scored.next_correct);
    // The early-ending exact-reply count is eval's.
    assert_eq!(chat::exact_replies(&model, &some, 2), scored.exact);
    assert!(scored.exact > 0 && scored.exact < some.len());
}

/// Pruning half of tinychat's hidden neurons writes a model `zlmc eval`
/// reads back with the same replies as the one in memory, and a third of the
/// parameters.
#[test]
fn pruned_tinychat_is_written_and_read_back() {
    let dir = scratch("train-chat-prune");
    let Some((spec, data)) = tinychat_spec(dir.path()) else {
        return;
    };
    let model = zlmc::driver::load(&spec).unwrap();
    let lines: Vec<_> = read_lines(&data).unwrap().into_iter().step_by(20).collect();
    let samples = text::samples_from_lines(&model, &lines).unwrap();
    let (pruned, n) = chat::prune_neurons(&model, 0.5, &samples.inputs).unwrap();
    assert_eq!(n, 128 + 96 + 64);
    let out = dir.path().join("pruned");
    zlmc::output::write_all(
        &out,
        &chat::model_files(&pruned, &["pruned".into()]).unwrap(),
    )
    .unwrap();
    let back = zlmc::driver::load(&out.join("model.yaml")).unwrap();
    assert_eq!(back, pruned);
    let sizes: Vec<_> = chat::layers_of(&back)
        .unwrap()
        .iter()
        .map(|l| (l.0.weights.rows, l.0.weights.cols))
        .collect();
    assert_eq!(sizes, [(128, 256), (96, 128), (64, 96), (40, 64)]);
    let r = zlmc_ok(
        &["eval", s(&out.join("model.yaml")), "--data", s(&data)],
        "",
    );
    let exact = score(&pruned, &read_lines(&data).unwrap()).unwrap().exact;
    r.assert_prints(&format!("exact replies: {exact} of 3002 lines"));
}

/// Every `stride`-th line of tinychat's training text, as a file in `dir`.
fn some_lines(data: &Path, stride: usize, dir: &Path) -> PathBuf {
    let text: String = read_lines(data)
        .unwrap()
        .iter()
        .step_by(stride)
        .map(|l| {
            format!(
                "{}|{}\n",
                String::from_utf8_lossy(&l.query),
                String::from_utf8_lossy(&l.reply)
            )
        })
        .collect();
    let path = dir.join("some.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// `zlmc compress --prune-neurons 0.5 --finetune` on tinychat (no float
/// reference): the original is the teacher, the result is written as a spec
/// and `.npz` that `eval` reads, and the same seed gives the same bytes.
#[test]
fn compress_finetunes_an_integer_only_character_model() {
    let dir = scratch("train-chat-compress");
    let Some((spec, data)) = tinychat_spec(dir.path()) else {
        return;
    };
    let text = some_lines(&data, 40, dir.path());
    let run = |out: &Path| {
        zlmc_ok(
            &[
                "compress",
                s(&spec),
                "--prune-neurons",
                "0.5",
                "--finetune",
                "--epochs",
                "2",
                "--quiet",
                "--data",
                s(&text),
                "-o",
                s(out),
            ],
            "",
        )
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let r = run(&a);
    r.assert_prints("pruned 288 hidden neurons");
    r.assert_prints("exact replies ");
    run(&b);
    for f in ["model.yaml", "model.npz"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let m = zlmc::driver::load(&a.join("model.yaml")).unwrap();
    assert_eq!(chat::layers_of(&m).unwrap()[0].0.weights.rows, 128);
    zlmc_ok(&["eval", s(&a.join("model.yaml")), "--data", s(&text)], "")
        .assert_prints("exact replies: ");
    // Binary re-quantization of an integer-only model.
    let c = dir.path().join("c");
    zlmc_ok(
        &[
            "compress",
            s(&spec),
            "--weights",
            "binary",
            "--data",
            s(&text),
            "-o",
            s(&c),
        ],
        "",
    );
    assert!(std::fs::read_to_string(c.join("model.yaml"))
        .unwrap()
        .contains("weights: binary"));
    // Sparsity needs a float reference: refused, nothing written.
    let bad = dir.path().join("bad");
    let r = zlmc(
        &[
            "compress",
            s(&spec),
            "--sparsity",
            "0.5",
            "--data",
            s(&text),
            "-o",
            s(&bad),
        ],
        "",
    );
    r.assert_exit(1, "--sparsity needs a float reference");
    assert!(!bad.exists());
}

/// `zlmc train` on a small character spec learns some of its text's
/// replies in a few epochs and writes the same bytes for the same seed.
#[test]
fn train_learns_a_small_character_model_from_text() {
    let dir = scratch("train-chat-train");
    let Some(src) = tinychat_dir() else {
        skip(
            &this_test(),
            "../shared/z80ai/tinychat is not beside the repository",
        );
        return;
    };
    let text = some_lines(&src.join("training-data.txt.gz"), 30, dir.path());
    let spec = dir.path().join("small.yaml");
    std::fs::write(
        &spec,
        "zlmc: 1\nname: small\nweights: model.npz\ninput:\n  - query_trigram: {buckets: 64}\n  - context_ngram: {buckets: 64, length: 8}\nnumerics:\n  weights: int2\n  accumulator: 16\nlayers:\n  - {name: fc1, units: 48, shift: 2, activation: relu}\n  - {name: fc2, units: 40, shift: 2, activation: none}\noutput:\n  generate:\n    charset: \" ABCDEFGHIJKLMNOPQRSTUVWXYZ012345678!/?\\0\"\n    eos: last\n    max_length: 50\n",
    )
    .unwrap();
    let run = |out: &Path| {
        zlmc_ok(
            &[
                "train",
                s(&spec),
                "--data",
                s(&text),
                "--epochs",
                "30",
                "--quiet",
                "-o",
                s(out),
            ],
            "",
        )
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let r = run(&a);
    let lines = read_lines(&text).unwrap();
    let m = zlmc::driver::load(&a.join("model.yaml")).unwrap();
    let exact = chat::exact_replies(&m, &lines, 1);
    r.assert_prints(&format!("exact replies: {exact} of {} lines", lines.len()));
    // A few epochs learn a fifth of the replies (an untrained start has none).
    assert!(exact * 10 >= lines.len(), "{exact} of {}", lines.len());
    run(&b);
    for f in ["model.yaml", "model.npz"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}
