//! `vigia-mailer`: the digest and alert sender.

fn main() {}
