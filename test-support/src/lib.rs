//! What zlmc's tests share, in one place: the seeded generator ([`Rng`]),
//! work and memory counted by the allocator ([`alloc`]),
//! scratch folders ([`scratch`]), one runner per external tool ([`tools`]),
//! z80ai's tinychat ([`tinychat`]), visible skips ([`skip`]), the `zlmc`
//! command in-process ([`zlmc`]), random models ([`models`]), ONNX models
//! ([`onnx`]), weights files ([`weights`]), every way a test builds code for
//! a target ([`build`]), random models checked in simavr ([`simavr`]), and
//! the split of a generated file into its model part and frame ([`parts`]).

pub mod alloc;
pub mod build;
pub mod conv_models;
pub mod filecheck;
pub mod models;
pub mod onnx;
pub mod parts;
pub mod rng;
pub mod simavr;
pub mod tools;
pub mod weights;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use rng::Rng;
pub use tempfile::TempDir;

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the repository")
        .to_path_buf()
}

/// The file [`skip`] appends to: `$ZLMC_SKIP_LOG`, or `target/test-skips.txt`.
pub fn skip_log() -> PathBuf {
    std::env::var_os("ZLMC_SKIP_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-skips.txt"))
}

/// The test binary's name without cargo's hash (`avr`, `c_text`, `zlmc_ir`).
fn binary_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// Records that `test` is skipped and why: says so on stderr and appends a line
/// to [`skip_log`], which `scripts/test.sh` prints after the tests.
pub fn skip(test: &str, why: &str) {
    let line = format!("{} {test}: {why}", binary_name());
    eprintln!("SKIPPED {line}");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// A fresh empty folder for one test, removed when dropped (kept, and its path
/// printed, when `ZLMC_KEEP_SCRATCH` is set, to look at what a failing test wrote).
pub fn scratch(tag: &str) -> TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("zlmc-{tag}-"))
        .tempdir()
        .expect("create a scratch folder");
    if std::env::var_os("ZLMC_KEEP_SCRATCH").is_some() {
        dir.disable_cleanup(true);
        eprintln!("{tag}: scratch folder {}", dir.path().display());
    }
    dir
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

impl Outcome {
    /// Asserts the run exited with `code` and its stderr mentions `needle`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(self.stderr.contains(needle), "{}", self.stderr);
    }

    /// Asserts the run succeeded and its stdout mentions `needle`.
    #[track_caller]
    pub fn assert_prints(&self, needle: &str) {
        assert_eq!(self.code, 0, "{}", self.stderr);
        assert!(self.stdout.contains(needle), "{}", self.stdout);
    }
}

/// Asserts that the files `names` are byte-identical in folders `a` and `b`.
#[track_caller]
pub fn assert_same_files(a: &Path, b: &Path, names: &[&str]) {
    for f in names {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            read(a) == read(b),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// Runs `zlmc ARGS` in-process with `stdin` as standard input.
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

/// Runs `zlmc ARGS` in-process and asserts it succeeds; returns its output.
pub fn zlmc_ok(args: &[&str], stdin: &str) -> Outcome {
    let r = zlmc(args, stdin);
    assert_eq!(r.code, 0, "zlmc {}: {}", args.join(" "), r.stderr);
    r
}

/// `zlmc import onnx MODEL [--calibrate DATA] -o OUT [EXTRA…]`.
pub fn zlmc_import_onnx(
    model: &Path,
    calibrate: Option<&Path>,
    out: &Path,
    extra: &[&str],
) -> Outcome {
    let mut args = vec!["import", "onnx", path_str(model)];
    if let Some(data) = calibrate {
        args.extend(["--calibrate", path_str(data)]);
    }
    args.extend(["-o", path_str(out)]);
    args.extend(extra);
    zlmc(&args, "")
}

/// A path as the `&str` the command line takes (the tests' paths are UTF-8).
fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `zlmc quantize SPEC --calibrate DATA -o OUT [EXTRA…]`.
pub fn zlmc_quantize(spec: &Path, data: &Path, out: &Path, extra: &[&str]) -> Outcome {
    let (spec, data, out) = (path_str(spec), path_str(data), path_str(out));
    let mut args = vec!["quantize", spec, "--calibrate", data, "-o", out];
    args.extend(extra);
    zlmc(&args, "")
}

/// `zlmc build SPEC --target TARGET [EXTRA…] -o OUT`, asserted to succeed.
pub fn zlmc_build(spec: &Path, target: &str, extra: &[&str], out: &Path) -> Outcome {
    let r = zlmc_try_build(spec, target, extra, out);
    assert_eq!(r.code, 0, "zlmc build {}: {}", spec.display(), r.stderr);
    r
}

/// `zlmc build SPEC --target TARGET [EXTRA…] -o OUT`, whatever its outcome.
pub fn zlmc_try_build(spec: &Path, target: &str, extra: &[&str], out: &Path) -> Outcome {
    let mut args = vec!["build", path_str(spec), "--target", target];
    args.extend(extra);
    args.extend(["-o", path_str(out)]);
    zlmc(&args, "")
}

/// The project's example spec `examples/NAME/model.yaml`.
pub fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name).join("model.yaml")
}

/// `examples/digits` imported (`zlmc import onnx`, calibrated on its
/// `data.npz`) into `out` with `extra` options, asserted to succeed; returns
/// the spec's path.
pub fn import_digits(out: &Path, extra: &[&str]) -> PathBuf {
    let ex = repo().join("examples/digits");
    let data = ex.join("data.npz");
    let r = zlmc_import_onnx(&ex.join("digits.onnx"), Some(&data), out, extra);
    assert_eq!(r.code, 0, "import digits {}: {}", extra.join(" "), r.stderr);
    out.join("model.yaml")
}

/// z80ai's tinychat, imported into a scratch folder.
pub struct Tinychat {
    /// `../shared/z80ai/tinychat`: `model.npz` and `expected.tsv`.
    pub src: PathBuf,
    /// The imported spec, `…/tinychat/model.yaml`.
    pub spec: PathBuf,
    /// The model loaded from `spec`, optimized by every pass.
    pub model: zlmc_ir::Model,
    /// z80ai's own replies: `query<TAB>reply` lines (2,290).
    pub expected: String,
    /// The scratch folder holding `spec`, and room for a test's own files.
    pub dir: TempDir,
}

impl Tinychat {
    /// The queries of `expected`, one a line.
    pub fn queries(&self) -> String {
        self.expected
            .lines()
            .map(|l| format!("{}\n", l.split('\t').next().expect("query column")))
            .collect()
    }

    /// Every `stride`-th line of `expected.tsv`: the queries, one a line
    /// (stdin for `--batch`), and the `query<TAB>reply` lines they must give.
    pub fn every(&self, stride: usize) -> (String, String) {
        let lines = self.expected.lines().step_by(stride);
        let queries = lines
            .clone()
            .map(|l| format!("{}\n", l.split('\t').next().expect("query column")))
            .collect();
        (queries, lines.map(|l| format!("{l}\n")).collect())
    }

    /// `zlmc sim --target TARGET --batch` of every query gives `expected` to
    /// the byte; returns the run's cost report (its stderr).
    fn assert_sim_reproduces_expected(&self, target: &str) -> String {
        let spec = self.spec.to_str().expect("path");
        let args = ["sim", spec, "--target", target, "--batch"];
        let r = zlmc_ok(&args, &self.queries());
        let differ = r
            .stdout
            .lines()
            .zip(self.expected.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "{differ} of 2,290 replies differ on {target}");
        assert_eq!(r.stdout, self.expected);
        r.stderr
    }
}

/// `../shared/z80ai/tinychat` beside the repository, when it is there.
pub fn tinychat_dir() -> Option<PathBuf> {
    let d = repo().join("../shared/z80ai/tinychat");
    d.join("model.npz").is_file().then_some(d)
}

/// z80ai's tinychat imported (`zlmc import z80ai`) and optimized; `None`, with
/// the skip of `test` recorded, when `../shared/z80ai/tinychat` is not there.
pub fn tinychat(test: &str) -> Option<Tinychat> {
    let Some(src) = tinychat_dir() else {
        skip(
            test,
            "../shared/z80ai/tinychat is not beside the repository",
        );
        return None;
    };
    let dir = scratch("tinychat");
    let out = dir.path().join("tinychat");
    let npz = src.join("model.npz");
    zlmc_ok(
        &[
            "import",
            "z80ai",
            npz.to_str().expect("path"),
            "-o",
            out.to_str().expect("path"),
        ],
        "",
    );
    let spec = out.join("model.yaml");
    let mut model = zlmc::driver::load(&spec).expect("tinychat loads");
    zlmc::driver::optimize(&mut model, &[], |_, _| {}).expect("passes");
    let expected = std::fs::read_to_string(src.join("expected.tsv")).expect("read expected.tsv");
    Some(Tinychat {
        src,
        spec,
        model,
        expected,
        dir,
    })
}

/// tinychat's 2,290 queries through `zlmc sim --target TARGET --batch` give
/// z80ai's replies to the byte; returns the run's cost report (`None`, with
/// the skip recorded as [`tinychat`] does, without tinychat).
pub fn assert_tinychat_sim_reproduces_expected(target: &str) -> Option<String> {
    tinychat(&this_test()).map(|t| t.assert_sim_reproduces_expected(target))
}

/// The running test's name (libtest names each test's thread after it).
pub fn this_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string()
}

/// A target's reply to `query` must be the interpreter's, byte for byte
/// (shown as text when not).
pub fn assert_same_reply(model: &str, query: &[u8], got: &[u8], want: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(want),
        "model {model} query {:?}",
        String::from_utf8_lossy(query)
    );
}

/// The benchmarks' share of expected.tsv: every `BENCH_STRIDE`-th query (1 = all 2,290; 7 unless set).
pub fn bench_stride() -> usize {
    std::env::var("BENCH_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

/// The number printed right after `label` in a report such as `zlmc sim`'s
/// summary (`… average 393726 (98.4 ms …`); panics, showing `text`, when
/// `label` is not followed by one.
pub fn figure_after(text: &str, label: &str) -> u64 {
    text.split_once(label)
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("no figure after {label:?} in:\n{text}"))
}

/// The percentage printed right after `label` in `text` (`accuracy: 90.00 %`);
/// panics, showing `text`, when `label` is not there.
pub fn percent_after(text: &str, label: &str) -> f64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in {text}"))
        + label.len();
    text[at..]
        .split(" %")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Asserts a deterministic cost (cycles, T-states, bytes) is within its
/// `budget`, set a few percent above the figure measured when it was pinned.
#[track_caller]
pub fn assert_within_budget(what: &str, measured: u64, budget: u64) {
    assert!(
        measured <= budget,
        "{what}: {measured}, over its budget of {budget} (a performance regression, \
         or an improvement: then lower the budget to about 3 % above the new figure)"
    );
}
