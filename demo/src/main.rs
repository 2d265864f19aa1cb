//! `vigia-demo`: runs the whole pipeline on loopback.

fn main() {}
