//! The Vigia demo and end-to-end harness: sample recording trees, configurations for the three
//! programs, and process orchestration on loopback.

pub mod fleet;
pub mod procs;
pub mod trees;
