//! The Vigia collector: the one place that knows the whole fleet. It owns the fleet CA, accepts
//! probe statuses over mutual-TLS gRPC, stores them in sled and answers readers' queries with
//! the verdicts of the root crate's rules.

pub mod ca;
pub mod testkit;
