//! Device-side Z80 sources (CP/M chat front-end) that zlmc embeds and emits beside Z80 models. They arrive with the Z80 backend.
