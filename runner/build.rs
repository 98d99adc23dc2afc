//! Builds `hakuriver-exec` (runner/helper/hakuriver-exec.c), the static helper a task's container
//! starts with, so that its output goes straight to the log files. It is linked statically to
//! run inside any image, and embedded in the runner binary (`executor::exec_helper`).

use std::path::PathBuf;

fn main() {
    let source = PathBuf::from("helper/hakuriver-exec.c");
    println!("cargo:rerun-if-changed={}", source.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("hakuriver-exec");
    let compiler = cc::Build::new().opt_level(2).cargo_metadata(false).get_compiler();
    let status = compiler
        .to_command()
        .args(["-static", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .expect("cannot run the C compiler for runner/helper/hakuriver-exec.c");
    assert!(
        status.success(),
        "cannot build runner/helper/hakuriver-exec.c (a static C toolchain is needed: gcc, libc6-dev)"
    );
}
