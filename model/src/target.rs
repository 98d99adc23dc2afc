//! Task targets as users write them: `node`, `node:numa` or `node::gpu,gpu`. Parsed here and only
//! here, so the host, the CLI and the dashboard agree on what a target means.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    /// `node:N`: pin the task to NUMA node `N` of that node.
    pub numa: Option<u32>,
    /// `node::0,1`: the task gets exactly these GPU ids of that node.
    pub gpus: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error("target {0:?} has no node name")]
    MissingNode(String),
    #[error("target {target:?}: {node:?} is not a node name (letters, digits, `.`, `-`, `_`)")]
    InvalidNode { target: String, node: String },
    #[error("target {target:?}: invalid NUMA id {value:?} (expected a non-negative integer)")]
    InvalidNuma { target: String, value: String },
    #[error("target {target:?}: invalid GPU id {value:?} (expected non-negative integers separated by commas)")]
    InvalidGpu { target: String, value: String },
    #[error("target {0:?}: duplicate GPU id")]
    DuplicateGpu(String),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let (node, numa, gpus) = if let Some((node, gpus)) = s.split_once("::") {
            (node, None, parse_gpus(input, gpus)?)
        } else if let Some((node, numa)) = s.split_once(':') {
            let id = numa
                .trim()
                .parse::<u32>()
                .map_err(|_| TargetError::InvalidNuma { target: input.to_string(), value: numa.to_string() })?;
            (node, Some(id), Vec::new())
        } else {
            (s, None, Vec::new())
        };
        let node = node.trim();
        if node.is_empty() {
            return Err(TargetError::MissingNode(input.to_string()));
        }
        if !crate::node::is_valid_node_name(node) {
            return Err(TargetError::InvalidNode { target: input.to_string(), node: node.to_string() });
        }
        Ok(Target { node: node.to_string(), numa, gpus })
    }
}

fn parse_gpus(target: &str, list: &str) -> Result<Vec<u32>, TargetError> {
    let mut ids = Vec::new();
    for part in list.split(',') {
        let id = part
            .trim()
            .parse::<u32>()
            .map_err(|_| TargetError::InvalidGpu { target: target.to_string(), value: part.to_string() })?;
        if ids.contains(&id) {
            return Err(TargetError::DuplicateGpu(target.to_string()));
        }
        ids.push(id);
    }
    Ok(ids)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node)?;
        if let Some(numa) = self.numa {
            write!(f, ":{numa}")?;
        }
        if !self.gpus.is_empty() {
            let ids: Vec<String> = self.gpus.iter().map(u32::to_string).collect();
            write!(f, "::{}", ids.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Result<Target, TargetError> {
        s.parse()
    }

    #[test]
    fn a_node_name_is_a_node_name() {
        // Found by the `target` fuzz target: a node part holding `:` or tabs printed differently.
        for bad in ["-2\t\t\t:\t\t\t::0516,2103", "a b", "x/y::0", "..:1"] {
            assert!(matches!(t(bad), Err(TargetError::InvalidNode { .. })), "{bad:?}: {:?}", t(bad));
        }
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(t("node1").unwrap(), Target { node: "node1".into(), numa: None, gpus: vec![] });
        assert_eq!(t("node1:1").unwrap(), Target { node: "node1".into(), numa: Some(1), gpus: vec![] });
        assert_eq!(t("gpu-box::0,2").unwrap(), Target { node: "gpu-box".into(), numa: None, gpus: vec![0, 2] });
    }

    #[test]
    fn display_round_trips() {
        for s in ["node1", "node1:3", "node1::0,1,7"] {
            assert_eq!(t(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_targets() {
        assert_eq!(t(""), Err(TargetError::Empty));
        assert!(matches!(t(":1"), Err(TargetError::MissingNode(_))));
        assert!(matches!(t("::0"), Err(TargetError::MissingNode(_))));
        assert!(matches!(t("n:x"), Err(TargetError::InvalidNuma { .. })));
        assert!(matches!(t("n:-1"), Err(TargetError::InvalidNuma { .. })));
        assert!(matches!(t("n::"), Err(TargetError::InvalidGpu { .. })));
        assert!(matches!(t("n::0,,1"), Err(TargetError::InvalidGpu { .. })));
        assert!(matches!(t("n::1,1"), Err(TargetError::DuplicateGpu(_))));
    }
}
