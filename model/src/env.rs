//! Docker environments: the host's env containers, their versioned tarballs in shared storage,
//! and the web terminal's frames (the original's shapes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One host environment container (`GET /docker/host/containers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub status: String,
}

/// `POST /docker/host/create` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateEnvRequest {
    pub image_name: String,
    pub container_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TarballVersion {
    pub timestamp: i64,
    pub tarball: String,
}

/// One environment in `GET /docker/list`: its newest tarball and every version, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvTarballs {
    pub latest_timestamp: i64,
    pub latest_tarball: String,
    pub all_versions: Vec<TarballVersion>,
}

/// `GET /docker/list`: keyed by environment name, sorted.
pub type TarballList = BTreeMap<String, EnvTarballs>;

/// A runner's load of an environment tarball in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadProgress {
    pub bytes: u64,
    pub total_bytes: Option<u64>,
}

/// One node's copy of an environment image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeEnvVersion {
    /// When the loaded image was made (unix seconds).
    pub image_created: i64,
    /// Whether it is at least as new as the newest tarball (what the next task would load).
    pub current: bool,
}

/// `GET /api/docker/versions`: per environment, the newest tarball and which runner has what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVersions {
    pub latest_timestamp: Option<i64>,
    pub nodes: BTreeMap<String, NodeEnvVersion>,
    /// Runners loading a tarball of this environment right now.
    #[serde(default)]
    pub loading: BTreeMap<String, LoadProgress>,
}

/// Terminal frames from the browser or CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TerminalInput {
    Input { data: String },
    Resize { rows: u16, cols: u16 },
}

/// Terminal frames to the browser or CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TerminalOutput {
    Output { data: String },
    Error { data: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_frames_use_the_original_json() {
        let resize: TerminalInput = serde_json::from_str(r#"{"type":"resize","rows":40,"cols":120}"#).unwrap();
        assert_eq!(resize, TerminalInput::Resize { rows: 40, cols: 120 });
        let out = serde_json::to_string(&TerminalOutput::Output { data: "hi".into() }).unwrap();
        assert_eq!(out, r#"{"type":"output","data":"hi"}"#);
        assert!(serde_json::from_str::<TerminalInput>(r#"{"type":"paste"}"#).is_err());
    }
}

/// `POST /api/docker/import` body (ours): an environment from a tar file on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    /// Absolute path of a tar file on the host: a root file system or a saved image.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: std::path::PathBuf,
    /// The environment to create.
    pub name: String,
    /// Answer 202 with an `operation_id` at once instead of waiting.
    #[serde(default)]
    pub background: bool,
}

/// `POST /api/vps/{id}/save` body: the environment the VPS becomes a new tarball version of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VpsSaveRequest {
    pub name: String,
    /// Answer 202 with an `operation_id` at once instead of waiting.
    #[serde(default)]
    pub background: bool,
}

/// Host → runner `POST /vps/save`: commit VPS `task_id` to `hakuriver/<name>:base` and save it as
/// tarball version `timestamp` of environment `name` in shared storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpsSaveOrder {
    pub task_id: crate::TaskId,
    pub name: String,
    pub timestamp: i64,
}

/// Runner → host, one JSON line each while a VPS is saved (`POST /vps/save` answers with them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SaveEvent {
    /// A new phase (`committing`, `saving`), with the bytes it will write when known.
    Phase {
        phase: String,
        total_bytes: Option<u64>,
    },
    /// Bytes written since the last event.
    Bytes {
        bytes: u64,
    },
    /// Done: the tarball's file name in the container folder and its size.
    Done {
        tarball: String,
        size_bytes: u64,
    },
    Failed {
        reason: String,
    },
}

/// `GET /api/vps/{id}/snapshots`: one tarball saved from a VPS, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VpsSnapshot {
    pub task_id: crate::TaskId,
    pub env_name: String,
    pub tarball: String,
    pub timestamp: i64,
    pub size_bytes: u64,
    pub node: String,
    pub saved_by: Option<String>,
    /// Whether the tarball is still in shared storage (older versions are removed as newer
    /// ones are saved, past `docker.vps_snapshots_kept`).
    pub present: bool,
}
