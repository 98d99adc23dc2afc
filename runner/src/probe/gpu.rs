//! GPUs: read through NVML, which is loaded at run time (`libnvidia-ml.so`), so one runner binary
//! works on machines with and without NVIDIA drivers. Without NVML the node simply has no GPUs.
//!
//! `[runner] gpu_inventory_file` replaces NVML with a JSON list of `GpuInfo` re-read at every
//! heartbeat: for tests, and for accelerators NVML does not see.

use std::path::PathBuf;
use std::sync::Arc;

use hakuriver_model::GpuInfo;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Nvml;

#[derive(Clone)]
pub enum GpuSource {
    Nvml(Arc<Nvml>),
    Inventory(PathBuf),
    None,
}

impl GpuSource {
    /// The inventory file if configured, else NVML if it loads, else none.
    pub fn detect(inventory: Option<PathBuf>) -> Self {
        if let Some(path) = inventory {
            tracing::info!(file = %path.display(), "GPU inventory from file (NVML not used)");
            return GpuSource::Inventory(path);
        }
        match Nvml::init() {
            Ok(nvml) => GpuSource::Nvml(Arc::new(nvml)),
            Err(e) => {
                tracing::info!(reason = %e, "NVML not available: this node reports no GPUs");
                GpuSource::None
            }
        }
    }

    /// Current readings of every GPU. Blocking (NVML calls, file reads): run off the async loop.
    pub fn read(&self) -> Vec<GpuInfo> {
        match self {
            GpuSource::Nvml(nvml) => read_nvml(nvml),
            GpuSource::Inventory(path) => match std::fs::read(path) {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!(file = %path.display(), error = %e, "invalid GPU inventory; reporting no GPUs");
                    Vec::new()
                }),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read GPU inventory; reporting no GPUs");
                    Vec::new()
                }
            },
            GpuSource::None => Vec::new(),
        }
    }
}

/// Reads every device; a device that fails to answer is skipped, a reading it lacks is -1.
fn read_nvml(nvml: &Nvml) -> Vec<GpuInfo> {
    let driver_version = nvml.sys_driver_version().unwrap_or_default();
    let count = nvml.device_count().unwrap_or(0);
    let mut gpus = Vec::new();
    for index in 0..count {
        let device = match nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(gpu = index, error = %e, "GPU does not answer; skipped");
                continue;
            }
        };
        let int = |r: Result<u32, nvml_wrapper::error::NvmlError>| r.map_or(-1, i64::from);
        let utilization = device.utilization_rates().ok();
        let memory = device.memory_info().ok();
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        gpus.push(GpuInfo {
            gpu_id: index,
            name: device.name().unwrap_or_default(),
            driver_version: driver_version.clone(),
            pci_bus_id: device.pci_info().map(|p| p.bus_id).unwrap_or_default(),
            gpu_utilization: utilization.as_ref().map_or(-1, |u| i64::from(u.gpu)),
            graphics_clock_mhz: int(device.clock_info(Clock::Graphics)),
            mem_utilization: utilization.as_ref().map_or(-1, |u| i64::from(u.memory)),
            mem_clock_mhz: int(device.clock_info(Clock::Memory)),
            memory_total_mib: memory.as_ref().map_or(0.0, |m| mib(m.total)),
            memory_used_mib: memory.as_ref().map_or(0.0, |m| mib(m.used)),
            memory_free_mib: memory.as_ref().map_or(0.0, |m| mib(m.free)),
            temperature: int(device.temperature(TemperatureSensor::Gpu)),
            fan_speed: int(device.fan_speed(0)),
            power_usage_mw: int(device.power_usage()),
            power_limit_mw: int(device.enforced_power_limit()),
        });
    }
    gpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_file_is_reread_and_bad_files_mean_no_gpus() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpus.json");
        std::fs::write(&path, r#"[{"gpu_id":0,"name":"Test GPU","memory_total_mib":81920.0,"gpu_utilization":7}]"#)
            .unwrap();
        let source = GpuSource::detect(Some(path.clone()));
        let gpus = source.read();
        assert_eq!((gpus.len(), gpus[0].name.as_str(), gpus[0].gpu_utilization), (1, "Test GPU", 7));
        assert_eq!(gpus[0].temperature, -1);

        std::fs::write(&path, "[]").unwrap();
        assert!(source.read().is_empty());
        std::fs::write(&path, "not json").unwrap();
        assert!(source.read().is_empty());
    }
}
