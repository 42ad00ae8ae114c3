//! A generated file split into the part its model decides and the frame around
//! it (the banner, the runtime front-end, the API entry points, the template),
//! so that the file tests pin each model's part and the insta snapshots pin the
//! frame once: a kernel edit shows in the file tests that use the kernel, a
//! runtime or template edit in a snapshot.
//!
//! The model part, by kind of file (the frame is every other line):
//! - `.asm` (Z80): the constants up to `org`, then from the first `; ---- `
//!   heading (the model's code and tables) to the end; the runtime front-end
//!   between them is the frame.
//! - `.S` (AVR): the description and buffers up to `.text`, then from the
//!   layer code (the comment before `.Lrun_dense:`) to the end: the layer
//!   walks, kernels and tables; the C entry points between are the frame.
//! - `.c` (C): the layers, from the comment of layer 0 to the end of
//!   `NAME_run`; the helpers and the API around them are the frame.
//!
//! Every file's first line, the banner, is frame: it names the source and
//! zlmc's version, not the model.

/// Which lines of `text` (the file `name`) are its model part, or why the
/// file cannot be split (a kind without a model part, or a marker not found).
fn model_lines(name: &str, text: &str) -> Result<Vec<bool>, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let find = |from: usize, what: &str, is: &dyn Fn(usize) -> bool| {
        (from..lines.len())
            .find(|&i| is(i))
            .ok_or(format!("{name}: no {what} to split the model part at"))
    };
    // Two ranges, [1, a) and [b, c), are the model part.
    let (a, b, c) = if name.ends_with(".asm") {
        let org = find(1, "`org` line", &|i| lines[i].starts_with("\torg "))?;
        let code = find(org, "`; ---- ` heading", &|i| {
            lines[i].starts_with("; ---- ")
        })?;
        (org + 1, code, lines.len())
    } else if name.ends_with(".S") {
        let text = find(1, "`.text` line", &|i| lines[i].trim_end() == "    .text")?;
        let run = find(text, "`.Lrun_dense:` label", &|i| {
            lines[i].trim_end() == ".Lrun_dense:"
        })?;
        // The layer code starts with the comment above its label.
        let start = if lines[run - 1].trim_start().starts_with("/*") {
            run - 1
        } else {
            run
        };
        (text, start, lines.len())
    } else if name.ends_with(".c") {
        let first = find(1, "layer 0 comment", &|i| {
            lines[i].starts_with(" * Layer 0:")
        })?;
        let run = find(first, "`NAME_run` function", &|i| {
            lines[i].starts_with("static const uint16_t *") && lines[i].contains("_run(")
        })?;
        let end = find(run, "end of `NAME_run`", &|i| lines[i].trim_end() == "}")?;
        // The comment opens on the line above.
        (1, first.saturating_sub(1), end + 1)
    } else {
        return Err(format!(
            "{name}: no model part is defined for this kind of file"
        ));
    };
    Ok((0..lines.len())
        .map(|i| (1..a).contains(&i) || (b..c).contains(&i))
        .collect())
}

/// The lines of `text` where `keep` says `want`.
fn select(text: &str, keep: &[bool], want: bool) -> String {
    text.split_inclusive('\n')
        .zip(keep)
        .filter(|(_, &k)| k == want)
        .map(|(l, _)| l)
        .collect()
}

/// The part of the generated file `name` that its model decides (see the module's comment).
pub fn model_part(name: &str, text: &str) -> Result<String, String> {
    Ok(select(text, &model_lines(name, text)?, true))
}

/// The rest of the generated file `name`: its banner, runtime, entry points and template.
pub fn frame(name: &str, text: &str) -> Result<String, String> {
    Ok(select(text, &model_lines(name, text)?, false))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_runtime_is_frame_and_the_model_code_is_not() {
        let asm = "; banner\nA: equ 1\n\torg 0x100\nstart:\n\tcall x\n; ---- x ----\nx:\n\tret\n";
        assert_eq!(
            super::model_part("m.asm", asm).unwrap(),
            "A: equ 1\n\torg 0x100\n; ---- x ----\nx:\n\tret\n"
        );
        assert_eq!(
            super::frame("m.asm", asm).unwrap(),
            "; banner\nstart:\n\tcall x\n"
        );
        assert!(super::model_part("m.h", asm).is_err());
        assert!(super::model_part("m.S", asm).is_err());
    }

    #[test]
    fn avr_entry_points_and_the_c_template_are_frame() {
        let s = "/* banner */\n/* Layer 1 */\nm_buf0:\n    .text\nm_step:\n    ret\n\n    \
                 /* Every layer */\n.Lrun_dense:\n    ret\nm_l0_w:\n";
        assert_eq!(
            super::model_part("m_model.S", s).unwrap(),
            "/* Layer 1 */\nm_buf0:\n    /* Every layer */\n.Lrun_dense:\n    ret\nm_l0_w:\n"
        );
        let c = "/* banner */\n#include \"m.h\"\n/*\n * Layer 0: 2 outputs\n */\nstatic void m_layer0(void)\n{\n}\n\
                 static const uint16_t *m_run(const uint16_t *x)\n{\n    return x;\n}\nvoid m_step(void)\n{\n}\n";
        assert_eq!(
            super::frame("m.c", c).unwrap(),
            "/* banner */\n#include \"m.h\"\nvoid m_step(void)\n{\n}\n"
        );
    }
}
