//! Generates the agentry.v1 messages, clients and servers with tonic-prost-build, using the
//! vendored `protoc`, writes a file descriptor set for server reflection, and generates the
//! canonical proto3 JSON mapping (serde impls) of every message with pbjson-build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = PathBuf::from("../../proto");
    let files = ["types.proto", "hub.proto", "node.proto"].map(|name| proto_root.join("agentry/v1").join(name));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptor_path = out_dir.join("agentry_descriptor.bin");
    let mut prost_config = prost_build::Config::new();
    prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Well-known types with serde impls, so the messages holding them have a JSON mapping too.
    prost_config.compile_well_known_types().extern_path(".google.protobuf", "::pbjson_types");
    tonic_prost_build::configure().file_descriptor_set_path(&descriptor_path).compile_with_config(
        prost_config,
        &files,
        &[proto_root],
    )?;
    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new().register_descriptors(&descriptors)?.build(&[".agentry.v1"])?;
    Ok(())
}
