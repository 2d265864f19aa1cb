//! Compiles the wire contract with protox (no system `protoc` needed) and keeps the encoded
//! descriptor set for gRPC server reflection.
//!
//! From the same descriptor set it also generates protobuf's canonical JSON (what `grpcurl`
//! prints) with pbjson-build, so a field added to the contract shows up in
//! `vigia-probe scan --json` without anyone writing it out. pbjson's serde impls need message
//! types whose well-known types are serde types too, and prost_types' are not: the JSON side
//! is a second set of the contract's messages (`vigia::pb::json`, no gRPC code), with
//! `Timestamp` and `Duration` generated beside them so they can carry their JSON forms.

use prost::Message;
use std::path::PathBuf;

/// The messages given JSON forms (and everything they contain): what the probe prints.
const JSON_MESSAGES: &[&str] = &[
    ".vigia.v1.RecordingStatus",
    ".vigia.v1.CameraStatus",
    ".vigia.v1.ScanError",
    ".vigia.v1.Technology",
    ".vigia.v1.ScanOutcome",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/vigia/v1/status.proto",
        "proto/vigia/v1/service.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let encoded = fds.encode_to_vec();
    std::fs::write(out_dir.join("vigia_descriptor.bin"), &encoded)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds.clone())?;

    let json_dir = out_dir.join("json");
    std::fs::create_dir_all(&json_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_well_known_types(true)
        .out_dir(&json_dir)
        .compile_fds(fds)?;
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .out_dir(&json_dir)
        // Fields at their default value are printed too, for readability (as before pbjson).
        .emit_fields()
        .build(JSON_MESSAGES)?;
    Ok(())
}
