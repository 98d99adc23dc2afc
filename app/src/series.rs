//! Chart lines from node samples: a node's readings, its GPUs', and cluster averages. Pure.

use std::collections::BTreeMap;

use hakuriver_model::history::NodeSample;

use crate::chart::{Series, PALETTE};

pub type History = BTreeMap<String, Vec<NodeSample>>;

/// A node's reading over time.
pub fn line(samples: &[NodeSample], pick: impl Fn(&NodeSample) -> Option<f64>) -> Vec<(i64, f64)> {
    samples.iter().filter_map(|s| pick(s).map(|v| (s.t, v))).collect()
}

/// The average over nodes of a reading, per `bucket_ms` of time.
pub fn cluster_average(
    history: &History,
    bucket_ms: i64,
    pick: impl Fn(&NodeSample) -> Option<f64>,
) -> Vec<(i64, f64)> {
    let mut buckets: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for samples in history.values() {
        // One value per node per bucket: its last in that bucket.
        let mut per_node: BTreeMap<i64, f64> = BTreeMap::new();
        for s in samples {
            if let Some(v) = pick(s) {
                per_node.insert(s.t.div_euclid(bucket_ms), v);
            }
        }
        for (b, v) in per_node {
            let e = buckets.entry(b).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    buckets.into_iter().map(|(b, (sum, n))| (b * bucket_ms + bucket_ms / 2, sum / f64::from(n))).collect()
}

/// CPU and memory use of the cluster (averages over online nodes).
pub fn cluster_load(history: &History) -> Vec<Series> {
    vec![
        Series { label: "CPU".into(), color: PALETTE[0], points: cluster_average(history, 10_000, |s| s.cpu_percent) },
        Series {
            label: "Memory".into(),
            color: PALETTE[1],
            points: cluster_average(history, 10_000, |s| s.memory_percent),
        },
    ]
}

/// One line per node of a reading.
pub fn per_node(history: &History, pick: impl Fn(&NodeSample) -> Option<f64> + Copy) -> Vec<Series> {
    history
        .iter()
        .enumerate()
        .map(|(i, (name, samples))| Series {
            label: name.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: line(samples, pick),
        })
        .collect()
}

/// A node's CPU and memory use.
pub fn node_load(samples: &[NodeSample]) -> Vec<Series> {
    vec![
        Series { label: "CPU".into(), color: PALETTE[0], points: line(samples, |s| s.cpu_percent) },
        Series { label: "Memory".into(), color: PALETTE[1], points: line(samples, |s| s.memory_percent) },
    ]
}

/// A node's average and hottest CPU temperature.
pub fn node_temperature(samples: &[NodeSample]) -> Vec<Series> {
    vec![
        Series { label: "Average".into(), color: PALETTE[2], points: line(samples, |s| s.avg_temp) },
        Series { label: "Hottest".into(), color: PALETTE[3], points: line(samples, |s| s.max_temp) },
    ]
}

/// One GPU's utilization and memory use, in percent.
pub fn gpu_load(samples: &[NodeSample], gpu_id: u32) -> Vec<Series> {
    let gpu = |s: &NodeSample| s.gpus.iter().find(|g| g.gpu_id == gpu_id).cloned();
    vec![
        Series { label: "Utilization".into(), color: PALETTE[0], points: line(samples, |s| gpu(s)?.utilization) },
        Series {
            label: "Memory".into(),
            color: PALETTE[1],
            points: line(samples, |s| {
                let g = gpu(s)?;
                (g.memory_total_mib > 0.0).then(|| 100.0 * g.memory_used_mib / g.memory_total_mib)
            }),
        },
    ]
}

/// One GPU's temperature.
pub fn gpu_temperature(samples: &[NodeSample], gpu_id: u32) -> Vec<Series> {
    let points = line(samples, |s| s.gpus.iter().find(|g| g.gpu_id == gpu_id)?.temperature);
    vec![Series { label: "Temperature".into(), color: PALETTE[3], points }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::history::GpuSample;

    fn sample(t: i64, cpu: f64) -> NodeSample {
        NodeSample {
            t,
            cpu_percent: Some(cpu),
            memory_percent: None,
            avg_temp: None,
            max_temp: None,
            gpus: vec![GpuSample {
                gpu_id: 3,
                utilization: Some(50.0),
                memory_used_mib: 1024.0,
                memory_total_mib: 4096.0,
                temperature: Some(60.0),
            }],
        }
    }

    #[test]
    fn the_cluster_average_takes_each_nodes_last_value_per_bucket() {
        let mut h = History::new();
        h.insert("a".into(), vec![sample(1_000, 10.0), sample(6_000, 20.0), sample(12_000, 40.0)]);
        h.insert("b".into(), vec![sample(2_000, 60.0)]);
        assert_eq!(cluster_average(&h, 10_000, |s| s.cpu_percent), [(5_000, 40.0), (15_000, 40.0)]);
    }

    #[test]
    fn gpu_lines_read_the_right_gpu() {
        let s = [sample(1, 0.0), sample(2, 0.0)];
        let load = gpu_load(&s, 3);
        assert_eq!(load[1].points, [(1, 25.0), (2, 25.0)]);
        assert!(gpu_load(&s, 0)[0].points.is_empty());
        assert_eq!(gpu_temperature(&s, 3)[0].points[0], (1, 60.0));
    }
}
