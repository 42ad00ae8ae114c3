//! Device-side AVR sources (serial chat front-end, simulator harness) that zlmc embeds and emits beside AVR models. They arrive with the AVR backend.
