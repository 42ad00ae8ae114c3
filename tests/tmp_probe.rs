use std::path::Path;
use zlmc::sim::avr::{compile_firmware, run_firmware, AvrRun};
use zlmc_backends::avr::Board;
use zlmc_test_support::build::avr_firmware;
use zlmc_test_support::tinychat;

#[test]
fn probe() {
    let t = tinychat("probe").unwrap();
    let dir = t.dir.path().join("fw");
    let _fw = avr_firmware(&t.model, &t.spec, Board::Uno, &dir).unwrap();
    let s = std::fs::read_to_string(dir.join("tinychat_model.S")).unwrap();
    let mut out = String::new();
    for l in s.lines() {
        for lab in [".Lrest", ".Lk_pm2", ".Lchash", ".Lqchunk", ".Lts_ctx", ".Lep0"] {
            if l == format!("{lab}:") {
                let g = lab.trim_start_matches(".L");
                out.push_str(&format!(".global P_{g}\nP_{g}:\n"));
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    std::fs::write(dir.join("tinychat_model.S"), out).unwrap();
    let elf = dir.join("p.elf");
    compile_firmware(&[dir.join("zlmc_sim.c"), dir.join("tinychat_model.S")], "atmega328p", 16_000_000, &elf).unwrap();
    let lines: Vec<&str> = t.expected.lines().step_by(7).collect();
    let input: Vec<u8> = lines.iter().flat_map(|l| l.split('\t').next().unwrap().bytes().chain([b'\n'])).collect();
    let mut steps = 0;
    for sym in ["tinychat_text_step", "P_rest", "P_k_pm2", "P_chash", "P_qchunk"] {
        let mut run = AvrRun::new(&elf, "atmega328p", 16_000_000);
        run.uart_input = &input;
        run.stop_on = Some(&[0x05]);
        run.max_cycles = u64::MAX / 2;
        run.idle_cycles = run.max_cycles;
        run.step_symbol = Some(sym);
        let rep = run_firmware(&run).unwrap();
        if steps == 0 { steps = rep.step_cycles.len(); }
        let tot: u64 = rep.step_cycles.iter().sum();
        eprintln!("{sym}: calls {} total per text step {:.0}", rep.step_cycles.len(), tot as f64 / steps as f64);
    }
    let _ = Path::new("");
}

#[test]
fn hist() {
    let t = tinychat("hist").unwrap();
    for n in t.model.graph.topo_order().unwrap() {
        if let zlmc_ir::Op::MatMul { weights, .. } = &t.model.graph.node(n).op {
            let mut h = std::collections::BTreeMap::new();
            for r in 0..weights.rows() {
                for (_, w) in weights.row_entries(r) {
                    *h.entry(w).or_insert(0usize) += 1;
                }
            }
            eprintln!("{}x{}: {h:?}", weights.rows(), weights.cols());
        }
    }
}
