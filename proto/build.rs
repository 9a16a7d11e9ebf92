//! Compiles `parla/v1/*.proto` with protox (a protobuf compiler in Rust, so
//! no system `protoc` is needed) and generates prost messages and tonic
//! clients and servers. The file descriptor set is kept for reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "parla/v1/common.proto",
        "parla/v1/asr.proto",
        "parla/v1/tts.proto",
        "parla/v1/dialogue.proto",
        "parla/v1/crm.proto",
        "parla/v1/handoff.proto",
        "parla/v1/gateway.proto",
        "parla/v1/tool.proto",
        "parla/v1/events.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("parla_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
