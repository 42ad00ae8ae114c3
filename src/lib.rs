//! Shared helpers for zlmc's cross-crate test suite in `tests/`: the `zlmc`
//! command run in-process, the shared data folder, random models, and a
//! host C toolchain wrapper.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use zlmc::frontend::lower::lower;
use zlmc::frontend::quantize::LayerData;
use zlmc_ir::{Decode, DenseWeights, Elem, Encoder, Model, WeightKind};

/// The repository's root folder.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/z80ai/tinychat` if it is there (CI has it; a bare clone may not).
pub fn tinychat_dir() -> Option<PathBuf> {
    let d = repo().join("../shared/z80ai/tinychat");
    d.join("model.npz").is_file().then_some(d)
}

/// Say loudly that a test is skipped, and why.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// What one `zlmc` invocation did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `zlmc ARGS` in-process with `stdin` as standard input.
pub fn zlmc(args: &[&str], stdin: &str) -> Outcome {
    let mut argv: Vec<std::ffi::OsString> = vec!["zlmc".into()];
    argv.extend(args.iter().map(Into::into));
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = zlmc::cli::run(argv, &mut input, &mut out, &mut err);
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// A fresh empty folder under the target directory, unique per name.
pub fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

/// A small deterministic PRNG (xorshift64*), so random tests replay exactly.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.bits() % ((hi - lo + 1) as u64)) as i64
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, p: u64) -> bool {
        self.bits() % 100 < p
    }

    /// One element of `v`.
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.bits() as usize % v.len()]
    }
}

/// A random raw-input classifier exercising every corner the arithmetic has:
/// 1–4 layers, widths 1–300, every weight value, dead rows, negative and
/// extreme biases (so accumulators wrap), shifts from 0 up, both accumulators.
pub fn random_model(rng: &mut Rng, name: &str) -> Model {
    let acc = if rng.chance(25) { Elem::I32 } else { Elem::I16 };
    let inputs = if rng.chance(20) {
        rng.range(1, 300)
    } else {
        rng.range(1, 40)
    } as usize;
    let data = random_layers(rng, acc, inputs, 300);
    let classes = data.last().expect("at least one layer").weights.rows;
    let labels = (0..classes).map(|i| format!("c{i}")).collect();
    lower(
        name,
        vec![Encoder::Raw {
            len: inputs,
            quant: None,
        }],
        Decode::Classify { labels },
        acc,
        data,
    )
}

/// A random text model for targets with a text front-end (16-bit accumulators,
/// at most `max_width` units a layer): a classifier over query trigrams, or a
/// character generator over query trigrams and reply context.
pub fn random_text_model(rng: &mut Rng, name: &str, generate: bool, max_width: usize) -> Model {
    let q = rng.pick(&[16usize, 32, 64, 128]);
    let mut encoders = vec![Encoder::QueryTrigram {
        buckets: q,
        value: rng.pick(&[32i16, 1, 100, -7]),
    }];
    if generate {
        encoders.push(Encoder::ContextNgram {
            buckets: rng.pick(&[8usize, 64, 128]),
            length: rng.range(1, 8) as usize,
            value: 32,
        });
    }
    let inputs: usize = encoders.iter().map(Encoder::len).sum();
    let data = random_layers(rng, Elem::I16, inputs, max_width);
    let classes = data.last().expect("at least one layer").weights.rows;
    let decode = if generate {
        // Printable classes; the last one ends the reply.
        let charset = (0..classes)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789 ?!."[i % 40])
            .collect();
        Decode::Generate {
            charset,
            eos: classes - 1,
            max_length: rng.range(1, 12) as usize,
        }
    } else {
        Decode::Classify {
            labels: (0..classes).map(|i| format!("class{i}")).collect(),
        }
    };
    lower(name, encoders, decode, Elem::I16, data)
}

/// Random dense layers from `inputs` inputs (see [`random_model`]).
fn random_layers(rng: &mut Rng, acc: Elem, inputs: usize, max_width: usize) -> Vec<LayerData> {
    let kind = rng.pick(&WeightKind::ALL);
    let layers = rng.range(1, 4) as usize;
    let width = |rng: &mut Rng| {
        if rng.chance(20) {
            rng.range(1, max_width as i64) as usize
        } else {
            rng.range(1, 40.min(max_width as i64)) as usize
        }
    };
    let mut inputs = inputs;
    let zero_pct = rng.pick(&[0, 30, 75, 95]);
    let dead_pct = rng.pick(&[0, 10, 40]);
    let mut data = Vec::new();
    for l in 0..layers {
        let units = width(rng);
        let values = kind.values();
        let mut w = Vec::with_capacity(units * inputs);
        for _ in 0..units {
            let dead = kind != WeightKind::Binary && rng.chance(dead_pct);
            for _ in 0..inputs {
                let zero = kind != WeightKind::Binary && (dead || rng.chance(zero_pct));
                w.push(if zero { 0 } else { rng.pick(&values) });
            }
        }
        let (lo, hi) = match acc {
            Elem::I16 => (i16::MIN as i64, i16::MAX as i64),
            Elem::I32 => (i32::MIN as i64, i32::MAX as i64),
        };
        let bias = (0..units)
            .map(|_| match rng.range(0, 5) {
                0 => lo,
                1 => hi,
                2 => rng.range(lo, hi),
                3 => 0,
                _ => rng.range(-300, 300),
            })
            .collect();
        let shift = match rng.range(0, 3) {
            0 => 0,
            1 => 2,
            _ => rng.range(0, acc.bits() as i64 - 1) as u32,
        };
        let last = l + 1 == layers;
        data.push(LayerData {
            weights: DenseWeights {
                kind,
                rows: units,
                cols: inputs,
                data: w,
            },
            bias,
            shift,
            relu: !last && rng.chance(80),
        });
        inputs = units;
    }
    data
}

/// Random input vectors for a model: full-range, small, sparse and all-zero.
pub fn random_inputs(rng: &mut Rng, len: usize, count: usize) -> Vec<Vec<i16>> {
    (0..count)
        .map(|k| {
            (0..len)
                .map(|_| match k % 4 {
                    0 => rng.range(i16::MIN as i64, i16::MAX as i64) as i16,
                    1 => rng.range(-64, 64) as i16,
                    2 if rng.chance(10) => 32,
                    3 => 0,
                    _ => 0,
                })
                .collect()
        })
        .collect()
}

/// Compile C sources (plus a driver) with the host gcc in strict C99 mode and
/// return the executable's path. Panics with gcc's messages on failure.
pub fn compile_c(dir: &Path, sources: &[PathBuf], exe: &str) -> PathBuf {
    let out = dir.join(exe);
    let mut cmd = Command::new("gcc");
    cmd.args([
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-pedantic",
        "-Werror",
        "-O1",
        "-o",
    ])
    .arg(&out)
    .args(sources);
    let res = cmd
        .output()
        .expect("gcc is required for the C backend's tests (scripts/setup.sh installs it)");
    assert!(
        res.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// Run an executable with `stdin`, returning its standard output.
pub fn run_exe(exe: &Path, stdin: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run compiled test program");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for test program");
    writer.join().expect("stdin writer");
    assert!(
        out.status.success(),
        "{} failed: {:?}",
        exe.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A C array literal of int16 values, written so no literal overflows `int`.
pub fn c_i16_array(v: &[i16]) -> String {
    let mut s = String::from("{");
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if *x == i16::MIN {
            s.push_str("-32767-1");
        } else {
            let _ = write!(s, "{x}");
        }
    }
    s.push('}');
    s
}

/// An array to store in a test weights file.
pub enum Array {
    /// int8 values with a shape.
    I8(Vec<usize>, Vec<i8>),
    /// int16 values with a shape.
    I16(Vec<usize>, Vec<i16>),
    /// float32 values with a shape.
    F32(Vec<usize>, Vec<f32>),
}

fn npy(a: &Array) -> Vec<u8> {
    let (descr, shape, data): (&str, &Vec<usize>, Vec<u8>) = match a {
        Array::I8(s, v) => ("|i1", s, v.iter().map(|&x| x as u8).collect()),
        Array::I16(s, v) => ("<i2", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Array::F32(s, v) => ("<f4", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Write a NumPy `.npz` holding `arrays`.
pub fn write_npz(path: &Path, arrays: &[(&str, Array)]) {
    let file = std::fs::File::create(path).expect("create npz");
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, a) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .expect("zip entry");
        std::io::Write::write_all(&mut zip, &npy(a)).expect("zip data");
    }
    zip.finish().expect("finish npz");
}

/// Write a `.safetensors` file holding `arrays`.
pub fn write_safetensors(path: &Path, arrays: &[(&str, Array)]) {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, a)) in arrays.iter().enumerate() {
        let (dtype, shape, bytes): (&str, &Vec<usize>, Vec<u8>) = match a {
            Array::I8(s, v) => ("I8", s, v.iter().map(|&x| x as u8).collect()),
            Array::I16(s, v) => ("I16", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Array::F32(s, v) => ("F32", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            header.push(',');
        }
        let _ = write!(
            header,
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            dims.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    std::fs::write(path, out).expect("write safetensors");
}

/// The Z80 target's files for an optimized model, as `zlmc build --target z80` makes them.
pub fn z80_files(
    m: &Model,
    source: &str,
) -> Result<zlmc_backends::z80::Z80Files, zlmc_backends::BackendError> {
    let v = zlmc_backends::target::Verified::new(m)?;
    zlmc_backends::z80::target::build(v, &zlmc::driver::provenance(Path::new(source)))
}

/// The AVR target's sketch for an optimized model on `board`, as `zlmc build --target avr` makes it.
pub fn avr_files(
    m: &Model,
    source: &str,
    board: zlmc_backends::avr::Board,
) -> Result<zlmc_backends::avr::AvrFiles, zlmc_backends::BackendError> {
    let v = zlmc_backends::target::Verified::new(m)?;
    zlmc_backends::avr::target::build(v, &zlmc::driver::provenance(Path::new(source)), board)
}
