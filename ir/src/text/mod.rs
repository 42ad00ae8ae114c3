//! The textual form of a model (`.zir`): printer, lexer and grammar.
