//! `.zir` round trips on real models: print → parse gives an equal model, for
//! every example and for tinychat, before the passes and after each one.

use std::path::Path;

use zlmc_ir::text::{parse_model, print_model};
use zlmc_test_support::{example, repo, scratch, tinychat, zlmc_ok};

fn roundtrip_all_stages(spec: &Path) -> usize {
    let mut model = zlmc::driver::load(spec).expect("model loads");
    let mut stages = vec![("lowered".to_string(), model.clone())];
    zlmc::driver::optimize(&mut model, &[], |pass, m| {
        stages.push((pass.to_string(), m.clone()))
    })
    .expect("passes");
    for (stage, m) in &stages {
        let text = print_model(m);
        let back =
            parse_model(&text).unwrap_or_else(|e| panic!("{} ({stage}): {e}", spec.display()));
        assert!(
            back == *m,
            "{} ({stage}): parse(print(m)) != m",
            spec.display()
        );
        assert_eq!(
            print_model(&back),
            text,
            "{} ({stage}): printing is stable",
            spec.display()
        );
    }
    stages.len()
}

#[test]
fn examples_roundtrip() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let spec = entry.unwrap().path().join("model.yaml");
        if spec.is_file() {
            roundtrip_all_stages(&spec);
            n += 1;
        }
    }
    assert!(n >= 1, "at least one example");
}

#[test]
fn tinychat_roundtrips() {
    let Some(t) = tinychat("tinychat_roundtrips") else {
        return;
    };
    assert_eq!(roundtrip_all_stages(&t.spec), 5);
}

#[test]
fn emitted_zir_runs_like_the_spec() {
    // `zlmc build --emit zir` output is itself a model `zlmc run` accepts.
    let spec = example("commands");
    let tmp = scratch("zir-emit");
    let out = tmp.path();
    zlmc_ok(
        &[
            "build",
            spec.to_str().unwrap(),
            "--emit",
            "zir",
            "-o",
            out.to_str().unwrap(),
        ],
        "",
    );
    let zir = out.join("commands.zir");
    let queries =
        "turn on the lights\nplease switch the fan off\nVOLUME UP\n\n   what can you do\n";
    let a = zlmc_ok(&["run", spec.to_str().unwrap(), "--batch"], queries);
    let b = zlmc_ok(&["run", zir.to_str().unwrap(), "--batch"], queries);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout.lines().count(), 5);
}
