//! Generates the agentry.v1 messages, clients and servers with tonic-prost-build, using the
//! vendored `protoc`, and writes a file descriptor set for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = PathBuf::from("../../proto");
    let files = ["types.proto", "hub.proto", "node.proto"].map(|name| proto_root.join("agentry/v1").join(name));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let mut prost_config = prost_build::Config::new();
    prost_config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("agentry_descriptor.bin"))
        .compile_with_config(prost_config, &files, &[proto_root])?;
    Ok(())
}
