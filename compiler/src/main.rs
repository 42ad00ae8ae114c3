//! The `zlmc` binary.

fn main() {
    let stdin = std::io::stdin();
    let code = zlmc::cli::run(
        std::env::args_os().collect(),
        &mut stdin.lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
