//! The generated protobuf messages and gRPC services of `proto/vigia/v1`, the only contract
//! between Vigia's processes.

#![allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]

tonic::include_proto!("vigia.v1");

/// The status messages in protobuf's canonical JSON, generated from the contract (pbjson).
// Hand-written around the generated parts: the lints silenced above apply again.
#[warn(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod json;

/// Encoded descriptor set of the contract, for gRPC server reflection (grpcurl without .proto files).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/vigia_descriptor.bin"));

/// The trailer in which the collector names the sequence of a status it refused as invalid, so
/// a probe sets that one status aside without reading it out of the human message.
pub const REFUSED_SEQUENCE_METADATA: &str = "vigia-refused-sequence";

/// The trailer in which the collector names, in bytes, the largest frame it decodes, when it
/// refused one too large to decode (so without a sequence): the probe sets aside what it sent
/// above that size instead of sending it again on every reconnect.
pub const REFUSED_FRAME_LIMIT_METADATA: &str = "vigia-refused-frame-limit";
