//! Raw-input models on the Z80 targets: the CP/M program and the Spectrum's
//! code block read a line of integers (typed a key at a time, as long as the
//! values need) and print the interpreter's label, on random models and on
//! the digits example through `zlmc sim`, which matches `zlmc run` on the
//! float features; a line they cannot take is an error message.

use std::path::Path;

use zlmc_backends::z80::target::z80_raw_reply;
use zlmc_backends::zx48::target::zx48_raw_reply;
use zlmc_ir::{interp, Encoder, Model};
use zlmc_test_support::build;
use zlmc_test_support::models::{make_values, random_inputs, random_text_model};
use zlmc_test_support::{import_digits, repo, scratch, zlmc, Rng};

/// A random classifier whose input is `len` raw integers (a text model's
/// layers, its encoders replaced).
fn raw_model(rng: &mut Rng, name: &str) -> Model {
    let mut m = random_text_model(rng, name, false, 120);
    let len = m.input_len();
    m.encoders = vec![Encoder::Raw { len, quant: None }];
    m
}

fn line(values: &[i16]) -> Vec<u8> {
    let words: Vec<String> = values.iter().map(i16::to_string).collect();
    words.join(" ").into_bytes()
}

/// The interpreter's label for `values`.
fn label(m: &Model, values: &[i16]) -> Vec<u8> {
    let r = interp::step(&m.graph, values);
    m.decode.answer(r.class).expect("a class")
}

#[test]
fn random_raw_models_answer_as_the_interpreter_on_cpm_and_the_spectrum() {
    let mut rng = Rng::new(0x0019_0009);
    let (mut models, mut answers, mut refused) = (0, 0, 0);
    while models < 100 {
        let mut m = raw_model(&mut rng, &format!("r{models}"));
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        let z = match build::z80(&m, Path::new("random")) {
            Ok(z) => z,
            Err(e) if e.message.contains("does not fit") || e.message.contains("bytes") => {
                refused += 1;
                continue;
            }
            Err(e) => panic!("{}: {e}", m.name),
        };
        models += 1;
        let spectrum = models % 4 == 0;
        // The Spectrum has less room: a model that does not fit is skipped there.
        let zx = spectrum
            .then(|| {
                let v = zlmc_backends::target::Verified::new(&m).expect("verified");
                match zlmc_backends::zx48::build(&v, &build::provenance(Path::new("random"))) {
                    Ok(z) => Some(z),
                    Err(zlmc_backends::BackendError::TooBig { .. }) => None,
                    Err(e) => panic!("{}: {e}", m.name),
                }
            })
            .flatten();
        for values in random_inputs(&mut rng, m.input_len(), 3) {
            let q = line(&values);
            let want = label(&m, &values);
            let (got, run) = z80_raw_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_eq!(
                String::from_utf8_lossy(&got.reply),
                String::from_utf8_lossy(&want),
                "{}: {}",
                m.name,
                String::from_utf8_lossy(&q)
            );
            assert!(run.highest_write < 0xDC00, "writes stay below the CCP");
            if let Some(zx) = &zx {
                let (got, _) = zx48_raw_reply(zx, &q).expect("runs");
                assert_eq!(got.reply, want, "{} on the Spectrum", m.name);
            }
            answers += 1;
        }
    }
    eprintln!("{answers} answers of 100 models agree ({refused} refused for their size)");
    assert!(refused < 50);
}

#[test]
fn lines_the_program_cannot_take_are_errors_in_zlmc_runs_words() {
    let mut rng = Rng::new(0x0019_0010);
    // The first random model that fits CP/M.
    let (m, z) = loop {
        let mut m = raw_model(&mut rng, "bad");
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        if let Ok(z) = build::z80(&m, Path::new("bad")) {
            break (m, z);
        }
    };
    let n = m.input_len();
    let ones = |k: usize| vec!["1"; k].join(" ");
    let cases = [
        (
            ones(n - 1),
            format!(
                "error: the model takes {n} integers, the input has {}",
                n - 1
            ),
        ),
        (
            format!("{} 5", ones(n)),
            format!(
                "error: the model takes {n} integers, the input has {}",
                n + 1
            ),
        ),
        (
            format!("{} x", ones(n - 1)),
            format!("error: value {n} is not an integer"),
        ),
        (
            format!("1-2 {}", ones(n - 1)),
            "error: value 1 is not an integer".into(),
        ),
        (
            format!("{} 32768", ones(n - 1)),
            format!("error: value {n} is out of range for i16 (-32768..=32767)"),
        ),
        (
            format!("q -32768,{}", ones(n - 1).replace(' ', ",")),
            String::from_utf8(label(&m, &{
                let mut v = vec![1i16; n];
                v[0] = -32768;
                v
            }))
            .expect("utf-8"),
        ),
        (
            format!("  +7\t{}  ", ones(n - 1)),
            String::from_utf8(label(&m, &{
                let mut v = vec![1i16; n];
                v[0] = 7;
                v
            }))
            .expect("utf-8"),
        ),
    ];
    for (q, want) in cases {
        let q = q.replace('\t', " ");
        let (got, _) = z80_raw_reply(&z.com, z.step_entry, q.as_bytes()).expect("runs");
        assert_eq!(String::from_utf8_lossy(&got.reply), want, "{q}");
    }
}

/// The digits example (16-bit accumulators, which the Z80 needs): `zlmc sim`
/// on the CP/M machine and the Spectrum prints what `zlmc run` prints for
/// the float features of the test samples.
#[test]
fn digits_on_the_z80_targets_match_zlmc_run() {
    let tmp = scratch("z80-raw-digits");
    let dir = tmp.path();
    let ex = repo().join("examples/digits");
    let spec = import_digits(
        &dir.join("d8"),
        &["--weights", "int8", "--accumulator", "16"],
    );
    let spec = spec.to_str().expect("utf-8");
    let t = zlmc::frontend::npz::read_npz_as(&ex.join("data.npz"), "data file").expect("data");
    let x = &t["x_test"];
    let zlmc::frontend::tensors::TensorData::Float(v) = &x.data else {
        panic!("x_test is not float")
    };
    let width = x.shape[1];
    let lines: String = (0..20)
        .map(|i| {
            let row: Vec<String> = v[i * width..(i + 1) * width]
                .iter()
                .map(|x| format!("{x:?}"))
                .collect();
            row.join(" ") + "\n"
        })
        .collect();
    let run = zlmc(&["run", spec, "--batch"], &lines);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for target in ["z80", "zx48"] {
        let sim = zlmc(&["sim", spec, "--target", target, "--batch"], &lines);
        assert_eq!(sim.code, 0, "{target}: {}", sim.stderr);
        assert_eq!(sim.stdout, run.stdout, "{target}");
        eprintln!("digits on {target}: {}", sim.stderr.trim());
    }
}

/// `m` as a values model: the last layer's outputs, scaled.
fn as_values(mut m: Model, rng: &mut Rng) -> Model {
    let scale = rng.pick(&[0.125, 0.01, 1.0 / 3.0, 2.5]);
    make_values(&mut m, scale, rng.range(-100, 100) as i32);
    m
}

#[test]
fn values_models_print_the_interpreters_outputs_on_cpm_and_the_spectrum() {
    let mut rng = Rng::new(0x0019_0011);
    let mut models = 0;
    while models < 100 {
        let mut m = as_values(raw_model(&mut rng, &format!("v{models}")), &mut rng);
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        let Ok(z) = build::z80(&m, Path::new("values")) else {
            continue;
        };
        models += 1;
        let v = zlmc_backends::target::Verified::new(&m).expect("verified");
        let zx = zlmc_backends::zx48::build(&v, &build::provenance(Path::new("values"))).ok();
        for values in random_inputs(&mut rng, m.input_len(), 2) {
            let q = line(&values);
            let want = line(&interp::step(&m.graph, &values).logits);
            let (got, _) = z80_raw_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_eq!(got.reply, want, "{}", m.name);
            if let Some(zx) = &zx {
                let (got, _) = zx48_raw_reply(zx, &q).expect("runs");
                assert_eq!(got.reply, want, "{} on the Spectrum", m.name);
            }
        }
    }
}

/// `zlmc sim` prints a values model's line as `zlmc run` does, on every
/// target that simulates.
#[test]
fn zlmc_sim_prints_values_as_zlmc_run_does() {
    let mut rng = Rng::new(0x0019_0012);
    let tmp = scratch("values-sim");
    let m = loop {
        let mut m = as_values(raw_model(&mut rng, "vs"), &mut rng);
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        if build::z80(&m, Path::new("values")).is_ok() {
            break m;
        }
    };
    let zir = tmp.path().join("vs.zir");
    let prov = zlmc::driver::provenance(&zir);
    std::fs::write(&zir, zlmc::driver::zir_text(&m, &prov, "test")).expect("write");
    let zir = zir.to_str().expect("utf-8");
    let lines: String = random_inputs(&mut rng, m.input_len(), 4)
        .iter()
        .map(|v| String::from_utf8(line(v)).expect("ascii") + "\n")
        .collect();
    let run = zlmc(&["run", zir, "--batch"], &lines);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for target in [&["z80"][..], &["zx48"], &["avr", "--board", "uno"]] {
        let mut args = vec!["sim", zir, "--target"];
        args.extend(target);
        args.push("--batch");
        let sim = zlmc(&args, &lines);
        assert_eq!(sim.code, 0, "{target:?}: {}", sim.stderr);
        assert_eq!(sim.stdout, run.stdout, "{target:?}");
    }
}

/// The Spectrum program of a raw-input model on OpenSE BASIC's own code
/// (Debian's opense-basic): the keys through the ROM's K channel, the label
/// the interpreter gives.
#[test]
fn raw_input_runs_on_opense_basic() {
    use zlmc_backends::sim::zx48::{Rom, OPENSE_ROM};
    use zlmc_backends::zx48::target::zx48_raw_reply_on;
    if !Path::new(OPENSE_ROM).is_file() {
        zlmc_test_support::skip(
            "raw_input_runs_on_opense_basic",
            &format!(
                "{OPENSE_ROM} is not there (Debian opense-basic; scripts/setup.sh installs it)"
            ),
        );
        return;
    }
    let rom = Rom::open(Path::new(OPENSE_ROM)).expect("OpenSE boots");
    let mut rng = Rng::new(0x0019_0013);
    let (m, zx) = loop {
        let mut m = raw_model(&mut rng, "se");
        zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
        let v = zlmc_backends::target::Verified::new(&m).expect("verified");
        if let Ok(z) = zlmc_backends::zx48::build(&v, &build::provenance(Path::new("se"))) {
            break (m, z);
        }
    };
    for values in random_inputs(&mut rng, m.input_len(), 2) {
        let q = line(&values);
        let (got, r) = zx48_raw_reply_on(&zx, &q, Some(&rom)).expect("runs");
        assert_eq!(
            got.reply,
            label(&m, &values),
            "{}",
            String::from_utf8_lossy(&q)
        );
        assert_eq!(r.flags & 8, 0, "FLAGS put back");
    }
}
