//! Hostile input: files built to exhaust memory or time, or to slip past the
//! checks, must fail with a clear error, having done little work: counted in
//! bytes allocated, not in seconds (issue 12).

use std::io::Write;
use std::path::{Path, PathBuf};

use zlmc_test_support::alloc::{measure, Counting};
use zlmc_test_support::{repo, scratch, zlmc, zlmc_import_onnx, Outcome};

/// The most a refusal may allocate in all: the inputs refused are read
/// (the largest, a 2 MB YAML file refused for its size, makes it 8.5 MB
/// today), what they declare never.
const REFUSAL_BYTES: u64 = 16 << 20;

/// A `.zir` model with a raw input of `len` elements and one sparse row.
fn raw_zir(len: &str) -> String {
    format!(
        "zir 1\nmodel \"big\"\nencode raw(length: {len})\ndecode classify(labels: [\"a\"])\n\n\
         %0 = input : i16[{len}]\n%1 = matmul %0, sparse int8[1, {len}] [\n  []\n], acc i16 : i16[1]\n\
         %2 = argmax %1 : index\n"
    )
}

/// A text model `.zir` with the given encoder and decoder lines.
fn text_zir(encode: &str, decode: &str, classes: usize) -> String {
    format!(
        "zir 1\nmodel \"t\"\n{encode}\n{decode}\n\n%0 = input : i16[16]\n\
         %1 = matmul %0, sparse int8[{classes}, 16] [\n{}], acc i16 : i16[{classes}]\n\
         %2 = argmax %1 : index\n",
        "  []\n".repeat(classes)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run zlmc, checking it ends with exit code 1 and an error mentioning
/// `want`, having done little work: at most [`REFUSAL_BYTES`] allocated.
fn refused(args: &[&str], want: &str) -> Outcome {
    let (r, used) = measure(|| zlmc(args, ""));
    assert!(
        used.bytes <= REFUSAL_BYTES,
        "{args:?} allocated {} bytes ({} at most at once) before refusing",
        used.bytes,
        used.peak
    );
    assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    assert!(!r.stderr.contains("internal error"), "{}", r.stderr);
    r
}

#[test]
fn huge_vectors_are_refused_before_allocating() {
    let scratch_dir = scratch("hostile-huge-vector");
    let d = scratch_dir.path().to_path_buf();
    let p = write(&d, "big.zir", &raw_zir("1000000000"));
    let p = p.to_str().unwrap();
    let r = refused(&["run", p, "--prompt", "1"], "exceeds the limit of 131072");
    assert!(r.stderr.contains("big.zir:"), "{}", r.stderr);
    let out = d.join("out");
    let o = out.to_str().unwrap();
    refused(
        &["build", p, "--target", "avr", "--board", "uno", "-o", o],
        "limit",
    );
    assert!(!out.exists());
    // At the limit the model is fine.
    let p = write(&d, "ok.zir", &raw_zir("131072"));
    let r = zlmc(
        &["run", p.to_str().unwrap(), "--prompt", &"0 ".repeat(131072)],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn zir_models_get_the_spec_rules() {
    let scratch_dir = scratch("hostile-zir-rules");
    let d = scratch_dir.path().to_path_buf();
    let cases = [
        (
            "encode context_ngram(buckets: 16, length: 1000, value: 32)",
            "decode generate(charset: \"ab\", eos: 1, max_length: 5)",
            "context length 1000 must be 1..=255",
        ),
        (
            "encode context_ngram(buckets: 16, length: 0, value: 32)",
            "decode generate(charset: \"ab\", eos: 1, max_length: 5)",
            "context length 0 must be 1..=255",
        ),
        (
            "encode query_trigram(buckets: 16, value: 32)",
            "decode generate(charset: \"ab\", eos: 1, max_length: 65536)",
            "max_length 65536 must be 1..=65535",
        ),
        (
            "encode query_trigram(buckets: 16, value: 32)",
            "decode generate(charset: \"ab\", eos: 1, max_length: 0)",
            "max_length 0 must be 1..=65535",
        ),
    ];
    for (i, (enc, dec, want)) in cases.iter().enumerate() {
        let p = write(&d, &format!("m{i}.zir"), &text_zir(enc, dec, 2));
        let p = p.to_str().unwrap();
        refused(&["run", p, "--prompt", "hi"], want);
        for target in ["c", "z80"] {
            let out = d.join(format!("out{i}{target}"));
            refused(
                &["build", p, "--target", target, "-o", out.to_str().unwrap()],
                want,
            );
            assert!(!out.exists());
        }
    }
}

#[test]
fn spec_limits_name_the_limit() {
    let scratch_dir = scratch("hostile-spec-limits");
    let d = scratch_dir.path().to_path_buf();
    let spec = std::fs::read_to_string(repo().join("examples/commands/model.yaml")).unwrap();
    std::fs::copy(
        repo().join("examples/commands/model.npz"),
        d.join("model.npz"),
    )
    .unwrap();
    let bucket = spec.replacen("buckets: 64", "buckets: 131072", 1);
    assert_ne!(bucket, spec, "the example changed: update this test");
    let p = write(&d, "buckets.yaml", &bucket);
    refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "131072 buckets: more than the limit of 65536",
    );
}

#[test]
fn deeply_nested_yaml_is_refused_quickly() {
    let scratch_dir = scratch("hostile-yaml-depth");
    let d = scratch_dir.path().to_path_buf();
    let n = 100_000;
    let text = format!("zlmc: 1\nname: {}{}\n", "[".repeat(n), "]".repeat(n));
    let p = write(&d, "deep.yaml", &text);
    let r = refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "deeper than the limit of 64",
    );
    assert!(r.stderr.contains("deep.yaml:2:"), "{}", r.stderr);
    let big = format!("zlmc: 1\nname: x\n# {}\n", "x".repeat(2 << 20));
    let p = write(&d, "big.yaml", &big);
    refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "limit of 1048576 bytes",
    );
}

/// A `.npz` with one entry whose header declares `shape` of int8 but holds `data`.
fn npz(path: &Path, shape: &str, data: &[u8]) {
    let header = format!("{{'descr': '|i1', 'fortran_order': False, 'shape': ({shape}), }}\n");
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend(data);
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("fc1_weight.npy", opts).unwrap();
    z.write_all(&npy).unwrap();
    z.finish().unwrap();
}

#[test]
fn inflating_npz_entries_are_refused_from_their_header() {
    let scratch_dir = scratch("hostile-npz");
    let d = scratch_dir.path().to_path_buf();
    let spec = std::fs::read_to_string(repo().join("examples/commands/model.yaml")).unwrap();
    let p = write(&d, "model.yaml", &spec);
    npz(&d.join("model.npz"), "300000000,", &[0; 4096]);
    refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "array of 300000000 elements exceeds the limit of 1048576",
    );
    // A shape whose product overflows is refused, not wrapped.
    npz(&d.join("model.npz"), "4294967296, 4294967296", &[]);
    refused(&["run", p.to_str().unwrap(), "--prompt", "x"], "model.npz");
    // Data shorter than the header says is a truncation error.
    npz(&d.join("model.npz"), "100,", &[0; 10]);
    refused(&["run", p.to_str().unwrap(), "--prompt", "x"], "truncated");
}

#[test]
fn safetensors_headers_are_untrusted() {
    let scratch_dir = scratch("hostile-safetensors");
    let d = scratch_dir.path().to_path_buf();
    let spec = std::fs::read_to_string(repo().join("examples/commands/model.yaml"))
        .unwrap()
        .replace("model.npz", "model.safetensors");
    let p = write(&d, "model.yaml", &spec);
    let header =
        r#"{"fc1.weight":{"dtype":"I8","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend(header.as_bytes());
    f.extend([0; 4]);
    std::fs::write(d.join("model.safetensors"), f).unwrap();
    refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "model.safetensors",
    );
}

/// A raw-input `.zir` model in a scratch folder (kept while the folder lives).
fn raw_model() -> (zlmc_test_support::TempDir, String) {
    let scratch_dir = scratch("hostile-raw-model");
    let p = write(scratch_dir.path(), "raw.zir", &raw_zir("3"));
    let p = p.to_string_lossy().into_owned();
    (scratch_dir, p)
}

#[test]
fn raw_input_values_are_checked() {
    let (_scratch, m) = raw_model();
    let r = zlmc(&["run", &m, "--prompt", "-5 3 0"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (prompt, want) in [
        ("1 two 3", "value 2 `two` is not an integer"),
        ("1 2 40000", "value 3 `40000` is out of range for i16"),
        ("1 2 3 4", "the model takes 3 integers, the input has 4"),
        ("1 2", "the model takes 3 integers, the input has 2"),
    ] {
        refused(&["run", &m, "--prompt", prompt], want);
    }
    let r = zlmc(&["run", &m, "--batch"], "1 2 3\n1 x 3\n");
    r.assert_exit(1, "stdin line 2: value 2 `x`");
}

#[test]
fn usage_errors_exit_2() {
    let ex = repo().join("examples/commands/model.yaml");
    let ex = ex.to_str().unwrap();
    for (args, want) in [
        (vec!["build", ex], "no output folder"),
        (
            vec!["build", ex, "--emit", "zir", "--disable-pass", "nope"],
            "unknown pass `nope`",
        ),
        (
            vec!["build", ex, "--emit", "zir", "--print-after", "nope"],
            "unknown pass `nope`",
        ),
        (
            vec![
                "build",
                ex,
                "--emit",
                "zir",
                "--print-after",
                "dead-neurons",
                "--disable-pass",
                "dead-neurons",
            ],
            "a disabled pass prints nothing",
        ),
        (
            vec!["build", ex, "--target", "avr", "--board", "nope", "-o", "x"],
            "nope",
        ),
    ] {
        let r = zlmc(&args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn batch_queries_with_tabs_are_refused() {
    let ex = repo().join("examples/commands/model.yaml");
    let r = zlmc(
        &["run", ex.to_str().unwrap(), "--batch"],
        "lights on\nfan\ton\n",
    );
    r.assert_exit(1, "stdin line 2: the query contains a tab");
}

#[test]
fn import_keeps_an_edited_spec() {
    let Some(tinychat) = zlmc_test_support::tinychat_dir() else {
        return zlmc_test_support::skip(
            "import_keeps_an_edited_spec",
            "../shared/z80ai/tinychat is not beside the repository",
        );
    };
    let scratch_dir = scratch("hostile-import");
    let d = scratch_dir.path().to_path_buf();
    let npz = tinychat.join("model.npz");
    let (npz, out) = (npz.to_str().unwrap(), d.to_str().unwrap());
    let r = zlmc(&["import", "z80ai", npz, "-o", out], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Importing again unchanged is fine; an edited spec is kept unless --force.
    assert_eq!(zlmc(&["import", "z80ai", npz, "-o", out], "").code, 0);
    std::fs::write(d.join("model.yaml"), "# edited\n").unwrap();
    let r = zlmc(&["import", "z80ai", npz, "-o", out], "");
    r.assert_exit(1, "--force");
    assert_eq!(
        std::fs::read_to_string(d.join("model.yaml")).unwrap(),
        "# edited\n"
    );
    assert_eq!(
        zlmc(&["import", "z80ai", npz, "-o", out, "--force"], "").code,
        0
    );
    assert_ne!(
        std::fs::read_to_string(d.join("model.yaml")).unwrap(),
        "# edited\n"
    );
}

#[test]
fn a_blocked_destination_writes_nothing() {
    let scratch_dir = scratch("hostile-output");
    let d = scratch_dir.path().to_path_buf();
    let ex = repo().join("examples/commands/model.yaml");
    std::fs::create_dir_all(d.join("commands.c")).unwrap();
    let r = zlmc(
        &["build", ex.to_str().unwrap(), "-o", d.to_str().unwrap()],
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("commands.c"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec!["commands.c"]);
    let r = zlmc(&["build", ex.to_str().unwrap(), "-o", "/proc/nope"], "");
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("/proc/nope"), "{}", r.stderr);
    assert!(!r.stderr.contains("zlmc-tmp"), "{}", r.stderr);
}

/// A stdout that is closed after `n` bytes, as `| head -c n` leaves it.
struct Closed(usize);

impl Write for Closed {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = b.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run zlmc with `args` on a stdout closed after `after` bytes: it exits 0
/// and says nothing.
fn ends_quietly_when_stdout_closes(args: &[&str], after: usize) {
    let argv = std::iter::once("zlmc").chain(args.iter().copied());
    let mut err = Vec::new();
    let code = zlmc::cli::run(
        argv.map(Into::into).collect(),
        &mut std::io::empty(),
        &mut Closed(after),
        &mut err,
    );
    let err = String::from_utf8_lossy(&err);
    assert_eq!((code, err.as_ref()), (0, ""), "{args:?}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let ex = repo().join("examples/commands/model.yaml");
    ends_quietly_when_stdout_closes(&["build", ex.to_str().unwrap(), "--emit", "zir"], 100);
}

/// `quantize` reports what it wrote as `run` prints replies: a reader that
/// stopped reading (`| head`) ends it quietly too.
#[test]
fn a_closed_stdout_ends_quantize_quietly() {
    let scratch_dir = scratch("hostile-quantize-closed");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (float, int8) = (
        scratch_dir.path().join("float"),
        scratch_dir.path().join("int8"),
    );
    let digits = repo().join("examples/digits");
    let onnx = s(&digits.join("digits.onnx"));
    let r = zlmc(&["import", "onnx", &onnx, "-o", &s(&float)], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (spec, data) = (s(&float.join("model.yaml")), s(&digits.join("data.npz")));
    ends_quietly_when_stdout_closes(
        &["quantize", &spec, "--calibrate", &data, "-o", &s(&int8)],
        10,
    );
}

#[test]
fn replies_that_would_take_too_long_are_refused() {
    let scratch_dir = scratch("hostile-reply-work");
    let d = scratch_dir.path().to_path_buf();
    let row = format!("  [{}]\n", vec!["1"; 64].join(" "));
    let zir = |max: usize| {
        format!(
            "zir 1\nmodel \"w\"\nencode query_trigram(buckets: 64, value: 32)\n\
             decode generate(charset: \"abcdefghijklmnopqrstuvwxyz012345\", eos: 31, max_length: {max})\n\n\
             %0 = input : i16[64]\n%1 = matmul %0, dense int8[32, 64] [\n{}], acc i16 : i16[32]\n\
             %2 = argmax %1 : index\n",
            row.repeat(32)
        )
    };
    // 2048 weights × 65535 steps is over the limit of 2^26 multiply-adds; × 32768 is not.
    let p = write(&d, "slow.zir", &zir(65535));
    refused(
        &["run", p.to_str().unwrap(), "--prompt", "x"],
        "limit of 67108864 multiply-adds",
    );
    let p = write(&d, "ok.zir", &zir(32768));
    let r = zlmc(&["build", p.to_str().unwrap(), "--emit", "zir"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn external_data_stays_in_the_model_folder_and_its_file() {
    use zlmc_test_support::onnx::{external, model, node, write_external_mlp};
    let scratch_dir = scratch("hostile-onnx-external");
    let top = scratch_dir.path();
    let d = top.join("model");
    std::fs::create_dir(&d).unwrap();
    // A readable file outside the model's folder, and a link to it inside.
    std::fs::write(top.join("secret.data"), [0u8; 64]).unwrap();
    std::os::unix::fs::symlink(top.join("secret.data"), d.join("link.data")).unwrap();
    write_external_mlp(&d, "good", 4);
    std::fs::write(d.join("short.data"), [0u8; 16]).unwrap();
    let secret = top.join("secret.data");
    let secret = secret.to_str().unwrap();
    let huge = u64::MAX.to_string();
    // W: [2, 2] floats, 16 bytes, at (location, offset, length).
    let cases: [(&str, Option<&str>, Option<&str>, String); 10] = [
        (
            "../secret.data",
            None,
            None,
            "initializer `W` keeps its data at `../secret.data`, outside the model's folder".into(),
        ),
        (
            secret,
            None,
            None,
            format!(
                "initializer `W` keeps its data at `{secret}`, an absolute path; external data \
                 must be in the model's folder"
            ),
        ),
        (
            "link.data",
            None,
            None,
            "initializer `W` keeps its data in `link.data`, which resolves to".into(),
        ),
        (
            "missing.data",
            None,
            None,
            "initializer `W` keeps its data in `missing.data`, which cannot be read: No such file"
                .into(),
        ),
        (
            "short.data",
            Some("8"),
            Some("16"),
            "initializer `W` keeps its data in `short.data` at bytes 8..24, past the end of the \
             file (16 bytes)"
                .into(),
        ),
        (
            "short.data",
            Some("1099511627776"),
            Some("16"),
            "initializer `W` keeps its data in `short.data` at offset 1099511627776, past the \
             end of the file (16 bytes)"
                .into(),
        ),
        (
            "short.data",
            Some("0"),
            Some(&huge),
            format!(
                "initializer `W` keeps its data in `short.data` at bytes 0..{huge}, past the end"
            ),
        ),
        (
            "short.data",
            Some("8"),
            Some(&huge),
            format!(
                "initializer `W` keeps its data in `short.data` at offset 8 with length {huge}, \
                 which overflows"
            ),
        ),
        (
            "short.data",
            Some("-1"),
            None,
            "initializer `W` keeps its data in `short.data` at offset `-1`, not a byte count"
                .into(),
        ),
        (
            "short.data",
            Some("0"),
            Some("8"),
            "initializer `W` keeps 8 bytes in `short.data` but its dimensions [2, 2] need 16"
                .into(),
        ),
    ];
    for (i, (location, offset, length, want)) in cases.iter().enumerate() {
        let m = model(
            &[None, Some(2)],
            vec![node("MatMul", &["x", "W"], "y")],
            vec![external("W", &[2, 2], location, *offset, *length)],
        );
        let p = d.join(format!("m{i}.onnx"));
        std::fs::write(&p, m).unwrap();
        let out = top.join(format!("out{i}"));
        let args = [
            "import",
            "onnx",
            p.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        let r = refused(&args, want);
        assert!(
            r.stderr.starts_with(&format!("{}: error: ", p.display())),
            "{}",
            r.stderr
        );
        assert!(!out.exists());
    }
    // The same folder's well-formed model imports.
    let good = d.join("good.onnx");
    let out = top.join("good-out");
    let r = zlmc_import_onnx(&good, None, &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
