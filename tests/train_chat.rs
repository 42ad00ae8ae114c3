//! Character models and training (issue 20): teacher-forced samples of
//! tinychat's training text, pruning and re-quantizing an integer-only model,
//! and the written result read back by `zlmc eval`.

use std::path::{Path, PathBuf};

use zlmc::evaluate::text::{read_lines, score};
use zlmc::train::{chat, text};
use zlmc_test_support::{scratch, skip, this_test, tinychat_dir, zlmc_ok};

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

/// The long tinychat runs behind `docs/compress.md`, one at a time, chosen by
/// `ZLMC_CHAT_RUN` (`prune`, `binary` or `train`), written to
/// `ZLMC_CHAT_OUT`; `ZLMC_CHAT_EPOCHS`, `ZLMC_CHAT_LR`, `ZLMC_CHAT_BATCH`,
/// `ZLMC_CHAT_ALPHA`, `ZLMC_CHAT_HIDDEN` (e.g. `64,48`) adjust it:
/// `ZLMC_CHAT_RUN=prune ZLMC_CHAT_OUT=/tmp/p cargo test --release -p zlmc-tests --test train_chat -- --ignored --nocapture`
#[test]
#[ignore = "minutes of training: a figure for the docs, run on purpose"]
fn tinychat_run() {
    let env = |k: &str| std::env::var(k).ok();
    let Some(run) = env("ZLMC_CHAT_RUN") else {
        return;
    };
    let out = PathBuf::from(env("ZLMC_CHAT_OUT").expect("ZLMC_CHAT_OUT"));
    let dir = scratch("train-chat-run");
    let Some((spec, data)) = tinychat_spec(dir.path()) else {
        return;
    };
    let model = zlmc::driver::load(&spec).unwrap();
    let lines = read_lines(&data).unwrap();
    let mut opts = zlmc::train::TrainOptions {
        holdout: 0.0,
        patience: 0,
        ..Default::default()
    };
    let num = |k: &str| env(k).map(|v| v.parse::<f64>().expect(k));
    opts.epochs = num("ZLMC_CHAT_EPOCHS").map_or(10, |v| v as usize);
    opts.lr = num("ZLMC_CHAT_LR").map_or(opts.lr, |v| v as f32);
    opts.batch = num("ZLMC_CHAT_BATCH").map_or(opts.batch, |v| v as usize);
    opts.alpha = num("ZLMC_CHAT_ALPHA").map_or(opts.alpha, |v| v as f32);
    opts.keep_zeros = env("ZLMC_CHAT_KEEP_ZEROS").is_some();
    opts.activity_weight = num("ZLMC_CHAT_ACTIVITY").map_or(0.0, |v| v as f32);
    let samples = text::samples_from_lines(&model, &lines).unwrap();
    let (start, teacher) = match run.as_str() {
        "prune" => (
            chat::prune_neurons(&model, 0.5, &samples.inputs).unwrap().0,
            Some(&model),
        ),
        "binary" => (
            chat::requantize(&model, zlmc_ir::WeightKind::Binary).unwrap(),
            Some(&model),
        ),
        "train" => {
            let hidden: Vec<usize> = env("ZLMC_CHAT_HIDDEN")
                .unwrap_or("256,192,128".into())
                .split(',')
                .map(|v| v.parse().unwrap())
                .collect();
            opts.logit_scale = Some(chat::SCRATCH_LOGIT_SCALE);
            (
                chat::fresh(&chat::reshaped(&model, &hidden).unwrap(), opts.seed).unwrap(),
                None,
            )
        }
        other => panic!("unknown run {other}"),
    };
    let t0 = std::time::Instant::now();
    let exact0 = chat::exact_replies(&start, &lines, opts.threads);
    eprintln!("start: {exact0} exact replies");
    let (trained, _) = chat::fit(&start, teacher, &lines, &opts, &mut |r| {
        eprintln!(
            "epoch {:3} loss {:.4} metric {:.4} ({:.0} s)",
            r.epoch, r.loss, r.held_out_metric, r.seconds
        )
    })
    .unwrap();
    let s = score(&trained, &lines).unwrap();
    eprintln!(
        "{run}: {} of {} exact, next-char {} of {}, {:.0} s",
        s.exact,
        s.lines,
        s.next_correct,
        s.positions,
        t0.elapsed().as_secs_f64()
    );
    let header = vec![format!(
        "tinychat_run {run}: {} exact replies of {}",
        s.exact, s.lines
    )];
    zlmc::output::write_all(&out, &chat::model_files(&trained, &header).unwrap()).unwrap();
}
