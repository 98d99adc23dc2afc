//! `hakuriver docker ...`: tables for environments and their tarballs.

use std::collections::BTreeMap;

use hakuriver_model::env::{EnvContainer, EnvVersions, TarballList};

use crate::table;

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
        if v.nodes.is_empty() {
            rows.push(vec![env.clone(), "-".into(), "-".into(), "no runner has it yet".into()]);
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
        let versions = BTreeMap::from([("base".to_string(), EnvVersions { latest_timestamp: Some(9), nodes })]);
        let out = render_versions(&versions);
        assert!(out.lines().nth(1).unwrap().contains("older"), "{out}");
        assert!(render_tars(&TarballList::new()).contains("create-tar"));
    }
}
