//! The dashboard's built assets (`target/site`, written by scripts/build-site.sh) are embedded
//! in release builds and read from disk in debug builds. The folder must exist for the embed
//! macro even before the first site build.
fn main() {
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site");
    if let Err(e) = std::fs::create_dir_all(&site) {
        println!("cargo::warning=cannot create {}: {e}", site.display());
    }
    println!("cargo::rerun-if-changed=../target/site");
    println!("cargo::rerun-if-changed=../migrations");
}
