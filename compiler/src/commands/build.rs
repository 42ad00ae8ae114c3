//! `zlmc build`: optimize a model and write its target's files, or its IR.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use zlmc_backends::target::{Options, Target};

use crate::diag::{Diagnostic, Result};
use crate::input::io_err;
use crate::{driver, output};

/// What `zlmc build` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// Target code.
    Code,
    /// The optimized IR as text.
    Zir,
}

/// `zlmc build MODEL`: check the pass flags, optimize, then write `target`'s files
/// (or the IR) under `output`, or print the IR when there is no `output`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    path: &Path,
    target: &dyn Target,
    emit: Emit,
    output: Option<&Path>,
    print_after: &[String],
    disabled: &[String],
    opts: Options,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(p) = print_after
        .iter()
        .chain(disabled)
        .find(|p| !crate::passes::exists(p))
    {
        return Err(driver::unknown_pass(p));
    }
    if let Some(p) = print_after.iter().find(|p| disabled.contains(p)) {
        return Err(Diagnostic::usage(format!(
            "--print-after {p} with --disable-pass {p}: a disabled pass prints nothing"
        )));
    }
    if emit == Emit::Code && output.is_none() {
        return Err(Diagnostic::usage("no output folder")
            .help("pass -o DIR (or --emit zir to print the IR)"));
    }
    let mut model = driver::load(path)?;
    let prov = driver::provenance(path);
    let mut printed = String::new();
    driver::optimize(&mut model, disabled, |pass, m| {
        if print_after.iter().any(|p| p == pass) {
            printed.push_str(&driver::zir_text(m, &prov, &format!("after {pass}")));
        }
    })?;
    out.write_all(printed.as_bytes()).map_err(io_err)?;
    let (folder, files, summary) = match emit {
        Emit::Zir => {
            let text = driver::zir_text(&model, &prov, "optimized");
            match output {
                None => return out.write_all(text.as_bytes()).map_err(io_err),
                Some(_) => (
                    None,
                    vec![(format!("{}.zir", model.name), text.into_bytes())],
                    String::new(),
                ),
            }
        }
        Emit::Code => {
            let e = driver::emit(target, &model, path, opts)?;
            (e.folder, e.files, e.plan.summary)
        }
    };
    let output = output.expect("checked above");
    let dir = folder.map_or_else(|| output.to_path_buf(), |f| output.join(f));
    output::write_all(&dir, &files)?;
    for (name, _) in &files {
        writeln!(out, "wrote {}", dir.join(name).display()).map_err(io_err)?;
    }
    if !summary.is_empty() {
        writeln!(out, "{summary}").map_err(io_err)?;
    }
    Ok(())
}
