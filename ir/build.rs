fn main() {
    // Rerun only when a grammar changes, not on every edit to the crate.
    lalrpop::Configuration::new()
        .emit_rerun_directives(true)
        .set_in_dir("./src")
        .process()
        .expect("lalrpop grammar compiles");
}
