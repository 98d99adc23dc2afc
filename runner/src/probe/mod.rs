//! What the runner knows about its machine: cores, memory, NUMA layout, temperatures and GPUs,
//! read from /proc and /sys (parsers are pure functions, tested on sample text) and NVML.

pub mod cpu;
pub mod gpu;
pub mod memory;
pub mod numa;
pub mod thermal;
