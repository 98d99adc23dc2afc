//! CPU temperatures from hwmon: only CPU sensor drivers count, so a disk or NIC sensor never
//! passes for the CPU's temperature.

use std::path::Path;

/// hwmon drivers that report CPU package or core temperatures.
const CPU_SENSORS: &[&str] = &["coretemp", "k10temp", "zenpower", "cpu_thermal", "soc_thermal"];

/// Average and maximum CPU temperature in °C, or `None` without CPU sensors.
pub fn read(hwmon_root: &Path) -> Option<(f64, f64)> {
    let mut temps = Vec::new();
    for entry in std::fs::read_dir(hwmon_root).ok()?.flatten() {
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("name")).unwrap_or_default();
        if !CPU_SENSORS.contains(&name.trim()) {
            continue;
        }
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let fname = file.file_name();
            let fname = fname.to_string_lossy();
            if fname.starts_with("temp") && fname.ends_with("_input") {
                if let Some(milli) =
                    std::fs::read_to_string(file.path()).ok().and_then(|t| t.trim().parse::<f64>().ok())
                {
                    temps.push(milli / 1000.0);
                }
            }
        }
    }
    summarize(&temps)
}

pub fn summarize(temps: &[f64]) -> Option<(f64, f64)> {
    if temps.is_empty() {
        return None;
    }
    let avg = temps.iter().sum::<f64>() / temps.len() as f64;
    let max = temps.iter().copied().fold(f64::MIN, f64::max);
    Some((avg, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cpu_sensors_count() {
        let root = tempfile::tempdir().unwrap();
        let cpu = root.path().join("hwmon0");
        let nvme = root.path().join("hwmon1");
        for (dir, name, temps) in [(&cpu, "coretemp", ["40000", "50000"]), (&nvme, "nvme", ["90000", "95000"])] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
            for (i, t) in temps.iter().enumerate() {
                std::fs::write(dir.join(format!("temp{}_input", i + 1)), t).unwrap();
            }
        }
        assert_eq!(read(root.path()), Some((45.0, 50.0)));
        assert_eq!(read(&root.path().join("none")), None);
        assert_eq!(summarize(&[]), None);
    }
}
