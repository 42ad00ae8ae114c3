//! The C API of a values model (regression, scores): the output scale and
//! zero point, and `NAME_values`, which runs a step and returns the values
//! as floats, `scale·(q − zero_point)` as the interpreter defines them.

use zlmc_ir::OutputQuant;

/// Declarations for the header; `float_input` when the model also has
/// `NAME_step_float`.
pub fn declarations(p: &str, q: &OutputQuant, float_input: bool) -> String {
    let up = p.to_ascii_uppercase();
    let mut s = format!(
        "\n/* A values model: output i of {p}_step stands for\n \
         * {up}_OUTPUT_SCALE * (logits[i] - {up}_OUTPUT_ZERO_POINT). */\n\
         #define {up}_VALUES {up}_CLASSES\n\
         #define {up}_OUTPUT_SCALE {:?}\n\
         #define {up}_OUTPUT_ZERO_POINT {}\n\n\
         /* Runs one inference step on input[{up}_INPUTS] and writes the values to\n \
         * values[{up}_VALUES]. */\n\
         void {p}_values(const int16_t *input, float *values);\n",
        q.scale, q.zero_point
    );
    if float_input {
        s.push_str(&format!(
            "\n/* {p}_values on float features, quantized as {p}_step_float does. */\n\
             void {p}_values_float(const float *features, float *values);\n"
        ));
    }
    s
}

/// Definitions for the source.
pub fn definitions(p: &str, float_input: bool) -> String {
    let up = p.to_ascii_uppercase();
    let mut s = format!(
        "
/* Scales the int16 outputs in[] to values[]. */
static void {p}_dequantize(const int16_t *in, float *values)
{{
    unsigned i;
    for (i = 0; i < {up}_VALUES; i++)
        values[i] = (float)({up}_OUTPUT_SCALE * ((double)in[i] - {up}_OUTPUT_ZERO_POINT));
}}

void {p}_values(const int16_t *input, float *values)
{{
    int16_t out[{up}_VALUES];
    {p}_step(input, out);
    {p}_dequantize(out, values);
}}
"
    );
    if float_input {
        s.push_str(&format!(
            "
void {p}_values_float(const float *features, float *values)
{{
    int16_t out[{up}_VALUES];
    {p}_step_float(features, out);
    {p}_dequantize(out, values);
}}
"
        ));
    }
    s
}
