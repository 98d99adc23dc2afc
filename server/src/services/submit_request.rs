//! Checking a submit request before anything is stored or run: pure, so every rule has a test.

use std::collections::BTreeMap;

use hakuriver_model::api::FieldError;
use hakuriver_model::auth::Role;
use hakuriver_model::limits::Limits;
use hakuriver_model::policy::{Asked, Denied, ResourcePolicy};
use hakuriver_model::span::MAX_SECONDS;
use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::task::{
    check_mount, check_task_name, is_env_var_name, is_image_reference, is_valid_env_name, Dependency, MAX_DEPENDENCIES,
    MAX_RETRIES, NO_CONTAINER, PRIORITY_RANGE,
};
use hakuriver_model::{Target, TaskRequest};
use hakuriver_model::{TaskId, TaskType};

/// Limits that keep one request from hurting the host or a runner.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
pub const MAX_ARGUMENTS: usize = 4096;
pub const MAX_TARGETS: usize = 256;
pub const MAX_CORES: u32 = 4096;
pub const MAX_ENV_VARS: usize = 1024;
pub const MAX_MOUNTS: usize = 64;
/// Most tasks one submit may create (argument sets times targets).
pub const MAX_TASKS_PER_SUBMIT: usize = 10_000;

/// Defaults from the host's configuration.
#[derive(Debug, Clone, Default)]
pub struct SubmitDefaults {
    pub container_name: String,
    pub privileged: bool,
    pub additional_mounts: Vec<String>,
    /// What each role may ask for.
    pub policy: ResourcePolicy,
    /// How long each role's tasks may run.
    pub limits: Limits,
}

/// A checked request: one entry per target (or one `None` target: the host places it).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSubmit {
    pub task_type: TaskType,
    /// For a VPS: its SSH public key (one checked line).
    pub command: String,
    /// The arguments of each task; one entry unless the request is a sweep.
    pub argument_sets: Vec<Vec<String>>,
    pub env_vars: BTreeMap<String, String>,
    pub cores: u32,
    pub memory_bytes: Option<u64>,
    pub container_name: String,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub queue: bool,
    /// `(as written, parsed)`; empty means "the host places one task".
    pub targets: Vec<(String, Target)>,
    /// The Unix user a task without a container runs as (none: the runner's own).
    pub run_as: Option<String>,
    /// A registry image to run in instead of an environment (`container_name` is then the same
    /// reference, for display).
    pub image: Option<String>,
    pub name: Option<String>,
    /// As asked by `check`; as the submitter's role gets it after `check_for`.
    pub time_limit_seconds: Option<u64>,
    /// Parents, each once, in the order given.
    pub depends_on: Vec<TaskId>,
    pub dependency: Option<Dependency>,
    pub retries: u32,
    pub priority: i32,
}

/// Why a submit is refused before anything is stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitRefusal {
    /// The request breaks a rule of the contract (400).
    #[error("{0}")]
    Invalid(FieldError),
    /// The request asks for more than the submitter's role may (403).
    #[error("{0}")]
    Denied(Denied),
}

/// Checks `req` for a submitter of `role`: the request's own rules, then the resource policy.
/// A configured default the role may not have (`docker.tasks_privileged`) is not applied to it;
/// asking for it explicitly is refused.
pub fn check_for(req: &TaskRequest, defaults: &SubmitDefaults, role: Role) -> Result<CheckedSubmit, SubmitRefusal> {
    let mut checked = check(req, defaults).map_err(SubmitRefusal::Invalid)?;
    let policy = &defaults.policy;
    if req.privileged.is_none() && role < policy.privileged_role {
        checked.privileged = false;
    }
    let asked = Asked {
        privileged: checked.privileged,
        container_name: &checked.container_name,
        mounts: &checked.mounts,
        image: checked.image.as_deref(),
    };
    policy.check(role, &asked, &defaults.additional_mounts).map_err(SubmitRefusal::Denied)?;
    defaults.limits.check_priority(role, checked.priority).map_err(SubmitRefusal::Denied)?;
    checked.time_limit_seconds =
        defaults.limits.time_limit_for(role, checked.time_limit_seconds).map_err(SubmitRefusal::Denied)?;
    if checked.container_name == NO_CONTAINER {
        checked.run_as = policy.native_user_for(role).map(str::to_string);
    }
    Ok(checked)
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_string(), message: message.into() }
}

pub fn check(req: &TaskRequest, defaults: &SubmitDefaults) -> Result<CheckedSubmit, FieldError> {
    let task_type: TaskType = req
        .task_type
        .parse()
        .map_err(|_| err("task_type", "Invalid task type. Only 'command' and 'vps' are supported."))?;
    let vps = task_type == TaskType::Vps;
    let command = req.command.trim();
    if vps {
        parse_public_key(command).map_err(|e| err("command", format!("Invalid SSH public key: {e}.")))?;
    } else if command.is_empty() {
        return Err(err("command", "command must not be empty"));
    }
    let argument_sets = match &req.argument_sets {
        None => vec![req.arguments.clone()],
        Some(_) if vps => return Err(err("argument_sets", "VPS tasks take no arguments, so no argument sets.")),
        Some(_) if !req.arguments.is_empty() => {
            return Err(err("argument_sets", "give either arguments or argument_sets, not both"))
        }
        Some(sets) if sets.is_empty() => return Err(err("argument_sets", "argument_sets is empty: no task to run")),
        Some(sets) => sets.clone(),
    };
    if req.command.contains('\0') {
        return Err(err("command", "command must not contain NUL"));
    }
    for arguments in &argument_sets {
        check_arguments(&req.command, arguments)
            .map_err(|m| err(if req.argument_sets.is_some() { "argument_sets" } else { "arguments" }, m))?;
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
    let image = match (&req.image, &req.container_name) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(err("image", "give either an image or a container_name (an environment), not both"))
        }
        (Some(image), None) if is_image_reference(image) => Some(image.clone()),
        (Some(image), None) => {
            return Err(err("image", format!("{image:?} is not an image reference like registry.lab:5000/team/app:1")))
        }
    };
    let container_name = match &req.container_name {
        None if image.is_some() => image.clone().unwrap_or_default(),
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
    let name = req.name.clone().map(|n| check_task_name(&n).map(|()| n.trim().to_string())).transpose();
    let name = name.map_err(|m| err("name", m))?;
    if let Some(limit) = req.time_limit_seconds {
        if limit == 0 || limit > MAX_SECONDS {
            return Err(err("time_limit_seconds", format!("time_limit_seconds must be 1 to {MAX_SECONDS} (366 days)")));
        }
    }
    let depends_on = check_dependencies(req, vps)?;
    let retries = match req.retries {
        Some(n) if n > MAX_RETRIES => return Err(err("retries", format!("retries must be at most {MAX_RETRIES}"))),
        Some(n) if n > 0 && vps => {
            return Err(err("retries", "a VPS is not retried: one lost with its node comes back with it"))
        }
        n => n.unwrap_or(0),
    };
    let priority = req.priority.unwrap_or(0);
    if !PRIORITY_RANGE.contains(&priority) {
        return Err(err("priority", "priority must be from -100 (yield) to 100 (urgent)"));
    }
    if argument_sets.len() * targets.len().max(1) > MAX_TASKS_PER_SUBMIT {
        return Err(err(
            "argument_sets",
            format!(
                "{} argument sets on {} targets make more than {MAX_TASKS_PER_SUBMIT} tasks",
                argument_sets.len(),
                targets.len().max(1)
            ),
        ));
    }
    Ok(CheckedSubmit {
        task_type,
        command: command.to_string(),
        // The original forces these empty for a VPS: it runs sshd, not a command.
        argument_sets: if vps { vec![Vec::new()] } else { argument_sets },
        env_vars: if vps { BTreeMap::new() } else { req.env_vars.clone() },
        cores: req.required_cores,
        memory_bytes: req.required_memory_bytes,
        container_name,
        privileged: req.privileged.unwrap_or(defaults.privileged),
        mounts,
        // An interactive VPS that cannot start now fails at once unless asked to wait.
        queue: req.queue.unwrap_or(!vps),
        targets,
        run_as: None,
        image,
        name,
        time_limit_seconds: req.time_limit_seconds,
        dependency: (!depends_on.is_empty()).then(|| req.dependency.unwrap_or_default()),
        depends_on,
        retries,
        priority,
    })
}

/// `depends_on`: at most `MAX_DEPENDENCIES` ids, each once; such a task must be able to wait.
fn check_dependencies(req: &TaskRequest, vps: bool) -> Result<Vec<TaskId>, FieldError> {
    let asked = req.depends_on.clone().unwrap_or_default();
    if asked.is_empty() {
        return match req.dependency {
            Some(_) => Err(err("dependency", "dependency needs depends_on: the tasks to wait for")),
            None => Ok(asked),
        };
    }
    if asked.len() > MAX_DEPENDENCIES {
        return Err(err("depends_on", format!("at most {MAX_DEPENDENCIES} tasks to wait for")));
    }
    if req.queue == Some(false) || (vps && req.queue.is_none()) {
        return Err(err("depends_on", "a task that waits for others must be able to queue (queue: true)"));
    }
    let mut seen = std::collections::BTreeSet::new();
    Ok(asked.into_iter().filter(|id| seen.insert(*id)).collect())
}

/// One task's command line: size, count and no NUL.
fn check_arguments(command: &str, arguments: &[String]) -> Result<(), String> {
    let arg_bytes: usize = arguments.iter().map(String::len).sum();
    if command.len() + arg_bytes > MAX_COMMAND_BYTES {
        return Err(format!("command and arguments exceed {MAX_COMMAND_BYTES} bytes"));
    }
    if arguments.len() > MAX_ARGUMENTS {
        return Err(format!("at most {MAX_ARGUMENTS} arguments"));
    }
    if arguments.iter().any(|a| a.contains('\0')) {
        return Err("arguments must not contain NUL".into());
    }
    Ok(())
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
        SubmitDefaults { container_name: "hakuriver-base".into(), ..SubmitDefaults::default() }
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
    fn a_registry_image_runs_instead_of_an_environment() {
        let c = check(&req(r#"{"command":"x","image":"reg.lab:5000/team/app:1"}"#), &defaults()).unwrap();
        assert_eq!(
            (c.image.as_deref(), c.container_name.as_str()),
            (Some("reg.lab:5000/team/app:1"), "reg.lab:5000/team/app:1")
        );
        for (body, why) in [
            (r#"{"command":"x","image":"a:1","container_name":"base"}"#, "not both"),
            (r#"{"command":"x","image":"-v /:/x"}"#, "not an image reference"),
            (r#"{"command":"x","image":""}"#, "not an image reference"),
        ] {
            let e = check(&req(body), &defaults()).unwrap_err();
            assert_eq!(e.field, "image", "{body}");
            assert!(e.message.contains(why), "{body}: {}", e.message);
        }
        // Any image is for operators by default; users get the allowlist.
        let mut d = defaults();
        let body = req(r#"{"command":"x","image":"reg.lab:5000/team/app:1"}"#);
        let e = check_for(&body, &d, Role::User).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Denied(ref d) if d.key == "policy.image_role"), "{e:?}");
        assert!(check_for(&body, &d, Role::Operator).is_ok());
        d.policy.user_images = vec!["reg.lab:5000/team/".into()];
        assert!(check_for(&body, &d, Role::User).is_ok());
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

    #[test]
    fn the_policy_applies_to_what_the_request_ends_up_asking() {
        let mut d = defaults();
        d.privileged = true;
        // A default the role may not have is dropped, not refused; asking for it is refused.
        let c = check_for(&req(r#"{"command":"x"}"#), &d, Role::User).unwrap();
        assert!(!c.privileged && c.run_as.is_none());
        assert!(check_for(&req(r#"{"command":"x"}"#), &d, Role::Admin).unwrap().privileged);
        let e = check_for(&req(r#"{"command":"x","privileged":true}"#), &d, Role::User).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Denied(ref d) if d.field == "privileged"), "{e:?}");
        let e = check_for(&req(r#"{"command":"x","container_name":"NULL"}"#), &d, Role::Operator).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Denied(ref d) if d.key == "policy.native_role"), "{e:?}");
        let e = check_for(&req(r#"{"command":"x","additional_mounts":["/:/host"]}"#), &d, Role::User).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Denied(ref d) if d.field == "additional_mounts"), "{e:?}");
        // Bad input is still a 400, whatever the role.
        let e = check_for(&req(r#"{"command":""}"#), &d, Role::Admin).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Invalid(_)));
        // Native tasks of roles below native_root_role run as native_user.
        d.policy.native_role = Role::User;
        let c = check_for(&req(r#"{"command":"id","container_name":"NULL"}"#), &d, Role::User).unwrap();
        assert_eq!(c.run_as.as_deref(), Some("nobody"));
        let c = check_for(&req(r#"{"command":"id","container_name":"NULL"}"#), &d, Role::Admin).unwrap();
        assert_eq!(c.run_as, None);
    }

    #[test]
    fn a_sweep_is_a_list_of_argument_sets() {
        let c = check(
            &req(r#"{"command":"run","argument_sets":[["1","a"],["2","a"]],"targets":["n1","n2"]}"#),
            &defaults(),
        )
        .unwrap();
        assert_eq!(c.argument_sets, vec![vec!["1".to_string(), "a".into()], vec!["2".into(), "a".into()]]);
        for (body, why) in [
            (r#"{"command":"x","argument_sets":[]}"#.to_string(), "no task"),
            (r#"{"command":"x","arguments":["y"],"argument_sets":[["z"]]}"#.to_string(), "not both"),
            (r#"{"command":"x","argument_sets":[["ok"],["a\u0000b"]]}"#.to_string(), "NUL"),
            (format!(r#"{{"task_type":"vps","command":"{KEY}","argument_sets":[["a"]]}}"#), "VPS"),
            (
                format!(
                    r#"{{"command":"x","argument_sets":{},"targets":["a","b"]}}"#,
                    serde_json::json!(vec![["1"]; 5001])
                ),
                "more than 10000 tasks",
            ),
        ] {
            let e = check(&req(&body), &defaults()).unwrap_err();
            assert!(e.field == "argument_sets" && e.message.contains(why), "{e:?}");
        }
    }

    #[test]
    fn names_time_limits_and_dependencies() {
        let c = check(
            &req(r#"{"command":"x","name":" prep ","time_limit_seconds":60,"depends_on":["7","5","7"]}"#),
            &defaults(),
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("prep"));
        assert_eq!((c.depends_on, c.dependency), (vec![TaskId(7), TaskId(5)], Some(Dependency::AfterOk)));
        assert_eq!(c.time_limit_seconds, Some(60));
        for (body, field) in [
            (r#"{"command":"x","name":""}"#.to_string(), "name"),
            (r#"{"command":"x","time_limit_seconds":0}"#.to_string(), "time_limit_seconds"),
            (r#"{"command":"x","time_limit_seconds":99999999}"#.to_string(), "time_limit_seconds"),
            (r#"{"command":"x","dependency":"afterany"}"#.to_string(), "dependency"),
            (r#"{"command":"x","retries":11}"#.to_string(), "retries"),
            (r#"{"command":"x","priority":101}"#.to_string(), "priority"),
            (format!(r#"{{"task_type":"vps","command":"{KEY}","retries":1}}"#), "retries"),
            (r#"{"command":"x","depends_on":["1"],"queue":false}"#.to_string(), "depends_on"),
            (
                format!(
                    r#"{{"command":"x","depends_on":{}}}"#,
                    serde_json::json!((1..=101).map(|i| i.to_string()).collect::<Vec<_>>())
                ),
                "depends_on",
            ),
        ] {
            assert_eq!(check(&req(&body), &defaults()).unwrap_err().field, field, "{body}");
        }
        assert!(
            serde_json::from_str::<TaskRequest>(r#"{"command":"x","depends_on":["1"],"dependency":"after"}"#).is_err()
        );
        // The role's limits apply: a default when none is asked, a refusal past the maximum.
        let mut d = defaults();
        d.limits.user.default_time_limit = Some(hakuriver_model::span::Span(600));
        d.limits.user.max_time_limit = Some(hakuriver_model::span::Span(3_600));
        assert_eq!(check_for(&req(r#"{"command":"x"}"#), &d, Role::User).unwrap().time_limit_seconds, Some(600));
        let e = check_for(&req(r#"{"command":"x","time_limit_seconds":7200}"#), &d, Role::User).unwrap_err();
        assert!(matches!(e, SubmitRefusal::Denied(ref d) if d.field == "time_limit_seconds"), "{e:?}");
        assert_eq!(check_for(&req(r#"{"command":"x"}"#), &d, Role::Admin).unwrap().time_limit_seconds, None);
    }

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    #[test]
    fn a_vps_takes_a_key_one_target_and_no_command() {
        let body = format!(
            r#"{{"task_type":"vps","command":"{KEY}","arguments":["x"],"env_vars":{{"A":"1"}},"targets":["n1::0"]}}"#
        );
        let c = check(&req(&body), &defaults()).unwrap();
        assert_eq!((c.task_type, c.command.as_str(), c.queue), (TaskType::Vps, KEY, false));
        assert!(c.argument_sets == vec![Vec::<String>::new()] && c.env_vars.is_empty());
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
