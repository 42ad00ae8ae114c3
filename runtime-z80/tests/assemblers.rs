//! The runtimes, printed inside whole programs, assemble with z80asm and pasmo
//! (the Debian packages `z80asm` and `pasmo`) to exactly the bytes of
//! `zlmc_backends::z80::assemble`.

mod common;

use common::*;
use zlmc_backends::z80::print;

#[test]
fn z80asm_and_pasmo_assemble_the_runtimes_identically() {
    let chat = Config::tinychat();
    let odd = Config {
        qbuckets: 0,
        qvalue: -300,
        cbuckets: 256,
        cvalue: -1,
        ctxlen: 0,
        maxlen: 1000,
        zin_len: 300,
        ..chat.clone()
    };
    let classify = Config::classifier();
    let wide = Config {
        qbuckets: 256,
        qvalue: -17,
        zin_len: 256,
        ..classify.clone()
    };
    for (name, cfg) in [
        ("chat", chat),
        ("chat, odd constants", odd),
        ("classify", classify),
        ("classify, 256 buckets", wide),
    ] {
        let (items, ours) = build_text(&source(&cfg, Stub::Dump, &[1, 2, 3]));
        let text = print(&items);
        for asm in Z80Asm::ALL {
            let tool = asm.name();
            let (bytes, messages) = external(asm, &text);
            assert!(
                messages.trim().is_empty(),
                "{name}: {tool} printed:\n{messages}"
            );
            if bytes != ours.bytes {
                let at = bytes
                    .iter()
                    .zip(&ours.bytes)
                    .position(|(a, b)| a != b)
                    .unwrap_or(bytes.len().min(ours.bytes.len()));
                panic!(
                    "{name}: {tool} differs at address {:#06x} (lengths {} vs ours {})",
                    0x100 + at,
                    bytes.len(),
                    ours.bytes.len()
                );
            }
        }
    }
}
