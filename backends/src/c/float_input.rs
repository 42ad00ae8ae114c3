//! `NAME_step_float` / `NAME_predict_float`: for a model quantized from a
//! float one, entry points that take the original float features and
//! quantize them as the interpreter does (`zlmc_ir::InputQuant::quantize`).

use zlmc_ir::InputQuant;

/// Declarations for the header.
pub fn declarations(p: &str) -> String {
    format!(
        "\n/*\n * Quantizes float features[{up}_INPUTS] as the model was calibrated (clamped to\n \
         * the declared range, round(x / scale) + zero point, saturated to int16), then\n \
         * runs {p}_step / {p}_predict on them.\n */\n\
         void {p}_step_float(const float *features, int16_t *logits);\n\
         uint16_t {p}_predict_float(const float *features);\n",
        up = p.to_ascii_uppercase()
    )
}

/// Definitions for the source.
pub fn definitions(p: &str, q: &InputQuant) -> String {
    let up = p.to_ascii_uppercase();
    let clamp = match q.range {
        Some((lo, hi)) => {
            format!("    if (v < {lo:?}) v = {lo:?};\n    if (v > {hi:?}) v = {hi:?};\n")
        }
        None => String::new(),
    };
    format!(
        "
/* Rounds half away from zero, as the reference interpreter does, without libm. */
static int16_t {p}_quantize_feature(float x)
{{
    double v = (double)x, q;
    if (v != v)
        return (int16_t){zp};
{clamp}    q = v / {scale:?};
    /* Far outside int16 either way; keeps the conversion to long defined. */
    if (q > 1e6)
        q = 1e6;
    if (q < -1e6)
        q = -1e6;
    q = q < 0.0 ? -(double)(long)(0.5 - q) : (double)(long)(q + 0.5);
    q += {zp}.0;
    if (q >= 32767.0)
        return 32767;
    if (q <= -32768.0)
        return -32768;
    return (int16_t)q;
}}

void {p}_step_float(const float *features, int16_t *logits)
{{
    int16_t in[{up}_INPUTS];
    unsigned i;
    for (i = 0; i < {up}_INPUTS; i++)
        in[i] = {p}_quantize_feature(features[i]);
    {p}_step(in, logits);
}}

uint16_t {p}_predict_float(const float *features)
{{
    int16_t in[{up}_INPUTS];
    unsigned i;
    for (i = 0; i < {up}_INPUTS; i++)
        in[i] = {p}_quantize_feature(features[i]);
    return {p}_predict(in);
}}
",
        zp = q.zero_point,
        scale = q.scale
    )
}
