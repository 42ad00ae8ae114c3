//! Convolution and pooling on the Z80: random feature-map models (1-D and
//! 2-D, strides, paddings, groups, both pools, every weight kind, 16- and
//! 32-bit accumulators) answer as the interpreter on the CP/M emulator, their
//! `.asm` assembling with z80asm and pasmo to the `.COM`'s bytes, and some on
//! the Spectrum; the predicted T-states track the measured ones; a model
//! whose maps do not fit is refused with what it needs and what there is.

use std::path::Path;

use zlmc_backends::z80::target::z80_raw_reply;
use zlmc_backends::zx48::target::zx48_raw_reply;
use zlmc_ir::{interp, Model};
use zlmc_test_support::build::{self, Z80Files};
use zlmc_test_support::conv_models::random_conv_model;
use zlmc_test_support::models::{make_values, random_inputs};
use zlmc_test_support::tools::{z80_assemble, Z80Asm};
use zlmc_test_support::Rng;

fn line(values: &[i16]) -> Vec<u8> {
    let words: Vec<String> = values.iter().map(i16::to_string).collect();
    words.join(" ").into_bytes()
}

/// The interpreter's label for `values`.
fn label(m: &Model, values: &[i16]) -> Vec<u8> {
    let r = interp::step(&m.graph, values);
    m.decode.answer(r.class).expect("a class")
}

/// Both assemblers turn `z`'s assembly into zlmc's bytes.
fn assert_assemblers_agree(z: &Z80Files, name: &str) {
    for tool in Z80Asm::ALL {
        let bytes = z80_assemble(tool, &z.asm)
            .unwrap_or_else(|e| panic!("{} on {name}: {e}", z.asm_name))
            .bytes;
        assert!(
            bytes == z.com,
            "{} disagrees with zlmc on {name}",
            tool.name()
        );
    }
}

/// The T-states `zlmc build` predicts for a whole inference.
fn predicted(z: &Z80Files) -> u64 {
    let last = z.layers.last().expect("a feature-map model's report");
    let figure = last
        .split("; ")
        .find_map(|part| part.strip_suffix(" T-states per inference predicted"))
        .expect("the prediction");
    figure.parse().expect("a number")
}

/// A random conv model, optimized as `zlmc build` does.
fn conv_model(rng: &mut Rng, name: &str) -> Model {
    let mut m = random_conv_model(rng, name);
    zlmc::driver::optimize(&mut m, &[], |_, _| {}).expect("passes");
    m
}

#[test]
fn random_conv_models_agree_with_the_interpreter_on_cpm_with_both_assemblers() {
    let mut rng = Rng::new(0x0021_0080);
    let (mut models, mut answers, mut refused) = (0, 0, 0);
    let mut worst_prediction = 0.0f64;
    while models < 100 {
        let m = conv_model(&mut rng, &format!("c{models}"));
        let z = match build::z80(&m, Path::new("random")) {
            Ok(z) => z,
            Err(e) if e.message.contains("bytes") => {
                refused += 1;
                assert!(refused < 20, "{}: {e}", m.name);
                continue;
            }
            Err(e) => panic!("{}: {e}", m.name),
        };
        models += 1;
        assert_assemblers_agree(&z, &m.name);
        for values in random_inputs(&mut rng, m.input_len(), 2) {
            let q = line(&values);
            let (got, run) = z80_raw_reply(&z.com, z.step_entry, &q).expect("runs");
            assert_eq!(
                String::from_utf8_lossy(&got.reply),
                String::from_utf8_lossy(&label(&m, &values)),
                "{}: {}",
                m.name,
                String::from_utf8_lossy(&q)
            );
            assert!(run.highest_write < 0xDC00, "writes stay below the CCP");
            let measured = run.step_tstates.iter().sum::<u64>() as f64;
            let off = (predicted(&z) as f64 - measured).abs() / measured;
            worst_prediction = worst_prediction.max(off);
            answers += 1;
        }
        // Its values form prints every output of the last layer.
        let mut values = m.clone();
        make_values(&mut values, 1.0, 0);
        let z = build::z80(&values, Path::new("random")).expect("builds as the classifier did");
        for x in random_inputs(&mut rng, m.input_len(), 2) {
            let (got, _) = z80_raw_reply(&z.com, z.step_entry, &line(&x)).expect("runs");
            let want = line(&interp::step(&m.graph, &x).logits);
            assert_eq!(got.reply, want, "{} as values", m.name);
        }
    }
    eprintln!(
        "{answers} answers of {models} conv models agree ({refused} refused for their size); \
         predictions within {:.1}%",
        100.0 * worst_prediction
    );
    assert!(
        worst_prediction < 0.15,
        "predicted T-states off by {worst_prediction}"
    );
}

#[test]
fn random_conv_models_agree_with_the_interpreter_on_the_spectrum() {
    let mut rng = Rng::new(0x0021_0048);
    let mut models = 0;
    while models < 8 {
        let m = conv_model(&mut rng, &format!("s{models}"));
        let v = zlmc_backends::target::Verified::new(&m).expect("verified");
        let zx = match zlmc_backends::zx48::build(&v, &build::provenance(Path::new("random"))) {
            Ok(z) => z,
            Err(zlmc_backends::BackendError::TooBig { .. }) => continue,
            Err(e) => panic!("{}: {e}", m.name),
        };
        models += 1;
        for values in random_inputs(&mut rng, m.input_len(), 3) {
            let q = line(&values);
            let (got, run) = zx48_raw_reply(&zx, &q).expect("runs");
            assert_eq!(got.reply, label(&m, &values), "{} on the Spectrum", m.name);
            assert!(run.highest_write < 0xFF00, "writes stay below the UDGs");
        }
    }
}
