//! Checking a submit request before anything is stored or run: pure, so every rule has a test.

use std::collections::BTreeMap;

use hakuriver_model::api::FieldError;
use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::task::{check_mount, is_env_var_name, is_valid_env_name, NO_CONTAINER, VPS};
use hakuriver_model::{Target, TaskRequest};

/// Limits that keep one request from hurting the host or a runner.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
pub const MAX_ARGUMENTS: usize = 4096;
pub const MAX_TARGETS: usize = 256;
pub const MAX_CORES: u32 = 4096;
pub const MAX_ENV_VARS: usize = 1024;
pub const MAX_MOUNTS: usize = 64;

/// Defaults from the host's configuration.
#[derive(Debug, Clone)]
pub struct SubmitDefaults {
    pub container_name: String,
    pub privileged: bool,
    pub additional_mounts: Vec<String>,
}

/// A checked request: one entry per target (or one `None` target: the host places it).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSubmit {
    /// `command` or `vps`.
    pub task_type: String,
    /// For a VPS: its SSH public key (one checked line).
    pub command: String,
    pub arguments: Vec<String>,
    pub env_vars: BTreeMap<String, String>,
    pub cores: u32,
    pub memory_bytes: Option<u64>,
    pub container_name: String,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub queue: bool,
    /// `(as written, parsed)`; empty means "the host places one task".
    pub targets: Vec<(String, Target)>,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_string(), message: message.into() }
}

pub fn check(req: &TaskRequest, defaults: &SubmitDefaults) -> Result<CheckedSubmit, FieldError> {
    let vps = match req.task_type.as_str() {
        "command" => false,
        VPS => true,
        _ => return Err(err("task_type", "Invalid task type. Only 'command' and 'vps' are supported.")),
    };
    let command = req.command.trim();
    if vps {
        parse_public_key(command).map_err(|e| err("command", format!("Invalid SSH public key: {e}.")))?;
    } else if command.is_empty() {
        return Err(err("command", "command must not be empty"));
    }
    let arg_bytes: usize = req.arguments.iter().map(String::len).sum();
    if req.command.len() + arg_bytes > MAX_COMMAND_BYTES {
        return Err(err("arguments", format!("command and arguments exceed {MAX_COMMAND_BYTES} bytes")));
    }
    if req.arguments.len() > MAX_ARGUMENTS {
        return Err(err("arguments", format!("at most {MAX_ARGUMENTS} arguments")));
    }
    if req.command.contains('\0') || req.arguments.iter().any(|a| a.contains('\0')) {
        return Err(err("arguments", "command and arguments must not contain NUL"));
    }
    if req.env_vars.len() > MAX_ENV_VARS {
        return Err(err("env_vars", format!("at most {MAX_ENV_VARS} environment variables")));
    }
    for (name, value) in &req.env_vars {
        if !is_env_var_name(name) {
            return Err(err(
                "env_vars",
                format!("invalid environment variable name {name:?}: use letters, digits and '_', not starting with a digit"),
            ));
        }
        if value.contains('\0') {
            return Err(err("env_vars", format!("environment variable {name} contains NUL")));
        }
    }
    if req.required_cores > MAX_CORES {
        return Err(err("required_cores", format!("required_cores {} is more than {MAX_CORES}", req.required_cores)));
    }
    if req.required_memory_bytes == Some(0) {
        return Err(err("required_memory_bytes", "required_memory_bytes must be positive when set"));
    }
    let container_name = match &req.container_name {
        None => defaults.container_name.clone(),
        Some(name) if name == NO_CONTAINER => NO_CONTAINER.to_string(),
        Some(name) if is_valid_env_name(name) => name.clone(),
        Some(name) => {
            return Err(err(
                "container_name",
                format!("invalid container name {name:?}: use lowercase letters, digits, '.', '_' or '-' (or \"NULL\" for no container)"),
            ))
        }
    };
    let mounts = req.additional_mounts.clone().unwrap_or_else(|| defaults.additional_mounts.clone());
    if mounts.len() > MAX_MOUNTS {
        return Err(err("additional_mounts", format!("at most {MAX_MOUNTS} mounts")));
    }
    for mount in &mounts {
        check_mount(mount).map_err(|m| err("additional_mounts", m))?;
    }
    let targets = check_targets(req).map_err(|m| err("targets", m))?;
    if targets.iter().any(|(_, t)| !t.gpus.is_empty()) && container_name == NO_CONTAINER {
        return Err(err("container_name", "GPU tasks need a container; GPUs cannot be given to a task without one"));
    }
    if vps && container_name == NO_CONTAINER {
        return Err(err("container_name", "VPS tasks require a Docker container."));
    }
    if vps && targets.len() > 1 {
        return Err(err("targets", "VPS tasks cannot be submitted to multiple targets."));
    }
    Ok(CheckedSubmit {
        task_type: req.task_type.clone(),
        command: command.to_string(),
        // The original forces these empty for a VPS: it runs sshd, not a command.
        arguments: if vps { Vec::new() } else { req.arguments.clone() },
        env_vars: if vps { BTreeMap::new() } else { req.env_vars.clone() },
        cores: req.required_cores,
        memory_bytes: req.required_memory_bytes,
        container_name,
        privileged: req.privileged.unwrap_or(defaults.privileged),
        mounts,
        // An interactive VPS that cannot start now fails at once unless asked to wait.
        queue: req.queue.unwrap_or(!vps),
        targets,
    })
}

fn check_targets(req: &TaskRequest) -> Result<Vec<(String, Target)>, String> {
    let raw = req.targets.clone().unwrap_or_default();
    if raw.len() > MAX_TARGETS {
        return Err(format!("at most {MAX_TARGETS} targets"));
    }
    let mut targets = Vec::new();
    for text in &raw {
        let target: Target = text.parse().map_err(|e| format!("{e}"))?;
        targets.push((text.clone(), target));
    }
    if let Some(gpus) = &req.required_gpus {
        if gpus.iter().any(|g| !g.is_empty()) {
            if targets.is_empty() {
                return Err("No target node specified for GPU task is not allowed.".into());
            }
            if gpus.len() != targets.len() {
                return Err(format!("required_gpus has {} lists for {} targets", gpus.len(), targets.len()));
            }
            for ((_, target), ids) in targets.iter_mut().zip(gpus) {
                if !target.gpus.is_empty() && !ids.is_empty() && &target.gpus != ids {
                    return Err(format!("target {target} names other GPUs than required_gpus {ids:?}"));
                }
                if target.gpus.is_empty() {
                    target.gpus = ids.clone();
                }
            }
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SubmitDefaults {
        SubmitDefaults { container_name: "hakuriver-base".into(), privileged: false, additional_mounts: vec![] }
    }

    fn req(json: &str) -> TaskRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_plain_request_gets_the_defaults() {
        let c =
            check(&req(r#"{"command":"echo","arguments":["hi"],"targets":["n1:0","n2::1,2"]}"#), &defaults()).unwrap();
        assert_eq!(c.container_name, "hakuriver-base");
        assert!(c.queue && !c.privileged);
        assert_eq!(c.targets[0].1.numa, Some(0));
        assert_eq!(c.targets[1].1.gpus, vec![1, 2]);
    }

    #[test]
    fn required_gpus_line_up_with_targets() {
        let c = check(&req(r#"{"command":"x","targets":["a","b"],"required_gpus":[[0],[1,2]]}"#), &defaults()).unwrap();
        assert_eq!(c.targets[1].1.gpus, vec![1, 2]);
        assert!(check(&req(r#"{"command":"x","targets":["a"],"required_gpus":[[0],[1]]}"#), &defaults()).is_err());
        assert!(check(&req(r#"{"command":"x","required_gpus":[[0]]}"#), &defaults()).is_err());
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let long = "x".repeat(MAX_COMMAND_BYTES + 1);
        for body in [
            r#"{"command":""}"#.to_string(),
            r#"{"task_type":"batch","command":"x"}"#.to_string(),
            r#"{"command":"x","targets":["n1:abc"]}"#.to_string(),
            r#"{"command":"x","targets":[""]}"#.to_string(),
            r#"{"command":"x","required_cores":100000}"#.to_string(),
            r#"{"command":"x","env_vars":{"A=B":"1"}}"#.to_string(),
            r#"{"command":"x","env_vars":{"A":"a\u0000b"}}"#.to_string(),
            r#"{"command":"x","additional_mounts":["relative:/x"]}"#.to_string(),
            r#"{"command":"x","additional_mounts":["/a/../etc:/x"]}"#.to_string(),
            r#"{"command":"x","additional_mounts":["/a:/b:exec"]}"#.to_string(),
            r#"{"command":"x","container_name":"../evil"}"#.to_string(),
            r#"{"command":"x","container_name":"a/b"}"#.to_string(),
            r#"{"command":"x","container_name":"NULL","targets":["n::0"]}"#.to_string(),
            format!(r#"{{"command":"{long}"}}"#),
        ] {
            assert!(check(&req(&body), &defaults()).is_err(), "{}", &body[..body.len().min(80)]);
        }
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    #[test]
    fn a_vps_takes_a_key_one_target_and_no_command() {
        let body = format!(
            r#"{{"task_type":"vps","command":"{KEY}","arguments":["x"],"env_vars":{{"A":"1"}},"targets":["n1::0"]}}"#
        );
        let c = check(&req(&body), &defaults()).unwrap();
        assert_eq!((c.task_type.as_str(), c.command.as_str(), c.queue), ("vps", KEY, false));
        assert!(c.arguments.is_empty() && c.env_vars.is_empty());
        assert_eq!(c.targets[0].1.gpus, vec![0]);
        for (body, why) in [
            (r#"{"task_type":"vps","command":"not a key"}"#.to_string(), "Invalid SSH public key"),
            (r#"{"task_type":"vps","command":""}"#.to_string(), "Invalid SSH public key"),
            (format!(r#"{{"task_type":"vps","command":"{KEY}","container_name":"NULL"}}"#), "require a Docker"),
            (format!(r#"{{"task_type":"vps","command":"{KEY}","targets":["a","b"]}}"#), "multiple targets"),
        ] {
            let e = check(&req(&body), &defaults()).unwrap_err();
            assert!(e.message.contains(why), "{e:?}");
        }
    }
}
