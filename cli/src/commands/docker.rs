//! `hakuriver docker ...`: tables for environments and their tarballs.

use std::collections::BTreeMap;

use hakuriver_model::env::{EnvContainer, EnvVersions, TarballList};

use crate::client::{Client, ClientError};
use crate::table;

/// Follows a host operation to its end, with a progress bar on a terminal; returns the
/// operation's final state.
pub async fn follow_operation(client: &Client, id: u64) -> Result<hakuriver_model::operation::Operation, ClientError> {
    use hakuriver_model::operation::{Operation, OperationState};
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    loop {
        let op: Operation = client.get(&format!("/api/operations/{id}")).await?;
        bar.set_message(op.phase.clone());
        if let Some(total) = op.total_bytes {
            bar.set_length(total.max(op.bytes));
        }
        bar.set_position(op.bytes);
        if op.state != OperationState::Running {
            bar.finish_and_clear();
            return Ok(op);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub fn render_containers(list: &[EnvContainer]) -> String {
    if list.is_empty() {
        return "No environment containers. Create one: hakuriver docker create-container IMAGE NAME\n".into();
    }
    let rows: Vec<Vec<String>> =
        list.iter().map(|c| vec![c.name.clone(), c.image.clone(), c.status.clone(), c.id.clone()]).collect();
    table::render(&["NAME", "IMAGE", "STATUS", "ID"], &rows)
}

pub fn render_tars(tars: &TarballList) -> String {
    if tars.is_empty() {
        return "No environment tarballs. Make one: hakuriver docker create-tar NAME\n".into();
    }
    let rows: Vec<Vec<String>> = tars
        .iter()
        .map(|(env, t)| {
            vec![
                env.clone(),
                t.latest_tarball.clone(),
                t.latest_timestamp.to_string(),
                t.all_versions.len().to_string(),
            ]
        })
        .collect();
    table::render(&["ENV", "LATEST TARBALL", "TIMESTAMP", "VERSIONS"], &rows)
}

pub fn render_versions(versions: &BTreeMap<String, EnvVersions>) -> String {
    let mut rows = Vec::new();
    for (env, v) in versions {
        if v.nodes.is_empty() && v.loading.is_empty() {
            rows.push(vec![env.clone(), "-".into(), "-".into(), "no runner has it yet".into()]);
        }
        for (node, p) in &v.loading {
            let done = match p.total_bytes {
                Some(total) if total > 0 => format!("loading {:.0} %", p.bytes as f64 / total as f64 * 100.0),
                _ => format!("loading {} bytes", p.bytes),
            };
            rows.push(vec![env.clone(), node.clone(), "-".into(), done]);
        }
        for (node, n) in &v.nodes {
            let state = if n.current { "current" } else { "older (loads on next task)" };
            rows.push(vec![env.clone(), node.clone(), n.image_created.to_string(), state.into()]);
        }
    }
    table::render(&["ENV", "NODE", "IMAGE CREATED", "STATE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_model::env::NodeEnvVersion;

    #[test]
    fn version_rows_say_what_is_current() {
        let mut nodes = BTreeMap::new();
        nodes.insert("n1".to_string(), NodeEnvVersion { image_created: 5, current: false });
        let versions = BTreeMap::from([(
            "base".to_string(),
            EnvVersions { latest_timestamp: Some(9), nodes, loading: BTreeMap::new() },
        )]);
        let out = render_versions(&versions);
        assert!(out.lines().nth(1).unwrap().contains("older"), "{out}");
        assert!(render_tars(&TarballList::new()).contains("create-tar"));
    }
}
