//! `vigia-probe`: the site daemon.

fn main() {}
