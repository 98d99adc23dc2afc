//! The task and VPS forms as plain data, turned into the request the host takes, with the same
//! checks the host runs (from `model`), each failure naming its field. Pure: tested natively.

use std::collections::BTreeMap;

use hakuriver_model::api::FieldError;
use hakuriver_model::protocol::UnknownWord;
use hakuriver_model::span::Span;
use hakuriver_model::sshkey::parse_public_key;
use hakuriver_model::task::{
    check_mount, check_task_name, is_env_var_name, is_valid_env_name, Dependency, MAX_RETRIES, NO_CONTAINER,
    PRIORITY_RANGE,
};
use hakuriver_model::{parse_bytes, Target, TaskRequest};
use hakuriver_model::{TaskId, TaskType};

/// `""` in the environment picker: the host's default environment.
pub const DEFAULT_ENV: &str = "";

/// One picked node: the whole node, one NUMA node of it, or some of its GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickedNode {
    pub node: String,
    pub numa: Option<u32>,
    pub gpus: Vec<u32>,
}

impl PickedNode {
    /// The target as the host reads it: `node`, `node:numa` or `node::gpu,gpu`.
    pub fn target(&self) -> String {
        if !self.gpus.is_empty() {
            let ids: Vec<String> = self.gpus.iter().map(u32::to_string).collect();
            format!("{}::{}", self.node, ids.join(","))
        } else if let Some(numa) = self.numa {
            format!("{}:{numa}", self.node)
        } else {
            self.node.clone()
        }
    }
}

/// What the task form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskForm {
    pub command: String,
    /// One argument per line.
    pub arguments: String,
    /// `KEY=VALUE` per line.
    pub env_vars: String,
    pub cores: String,
    /// e.g. `512M`, `4G`, `4Gi`; empty for no limit.
    pub memory: String,
    /// An environment name, [`DEFAULT_ENV`] or `NULL`.
    pub container: String,
    /// `host:container[:ro]` per line; empty keeps the host's default mounts.
    pub mounts: String,
    pub privileged: bool,
    pub targets: Vec<PickedNode>,
    /// A name to find it by; empty for none.
    pub name: String,
    /// `2h30m`, `90m`, `1d`; empty: the role's default.
    pub time_limit: String,
    /// Task ids to wait for, separated by commas or spaces.
    pub after: String,
    /// `afterok` (also when empty), `afterany` or `afternotok`.
    pub dependency: String,
    /// How often to queue it again if its node is lost or it cannot start; empty: never.
    pub retries: String,
    /// -100 to 100; empty: 0.
    pub priority: String,
}

/// What the VPS form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VpsForm {
    pub public_key: String,
    pub cores: String,
    pub memory: String,
    pub container: String,
    /// None: the host places it.
    pub target: Option<PickedNode>,
    /// `2h30m`, `7d`; empty: the role's default.
    pub time_limit: String,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn cores(text: &str, default: u32) -> Result<u32, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(default);
    }
    text.parse().map_err(|_| err("required_cores", "cores must be a whole number (0: no reservation)"))
}

fn memory(text: &str) -> Result<Option<u64>, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match parse_bytes(text) {
        Ok(0) => Err(err("required_memory_bytes", "the memory limit must be more than 0")),
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => Err(err("required_memory_bytes", e.to_string())),
    }
}

fn container(text: &str) -> Result<Option<String>, FieldError> {
    match text.trim() {
        DEFAULT_ENV => Ok(None),
        NO_CONTAINER => Ok(Some(NO_CONTAINER.into())),
        name if is_valid_env_name(name) => Ok(Some(name.into())),
        name => Err(err("container_name", format!("{name:?} is not an environment name"))),
    }
}

fn time_limit(text: &str) -> Result<Option<u64>, FieldError> {
    match text.trim() {
        "" => Ok(None),
        text => match text.parse::<Span>() {
            Ok(Span(0)) => Err(err("time_limit_seconds", "the time limit must be more than 0")),
            Ok(span) => Ok(Some(span.0)),
            Err(e) => Err(err("time_limit_seconds", e.to_string())),
        },
    }
}

fn parents(text: &str, dependency: &str) -> Result<(Option<Vec<TaskId>>, Option<Dependency>), FieldError> {
    let ids = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<TaskId>().map_err(|e| err("depends_on", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Ok((None, None));
    }
    let kind = match dependency.trim() {
        "" => Dependency::default(),
        word => word.parse().map_err(|e: UnknownWord| err("dependency", e.to_string()))?,
    };
    Ok((Some(ids), Some(kind)))
}

fn retries(text: &str) -> Result<Option<u32>, FieldError> {
    match text.trim() {
        "" | "0" => Ok(None),
        text => match text.parse::<u32>() {
            Ok(n) if n <= MAX_RETRIES => Ok(Some(n)),
            _ => Err(err("retries", format!("retries: a whole number from 0 to {MAX_RETRIES}"))),
        },
    }
}

fn priority(text: &str) -> Result<Option<i32>, FieldError> {
    match text.trim() {
        "" | "0" => Ok(None),
        text => match text.parse::<i32>() {
            Ok(n) if PRIORITY_RANGE.contains(&n) => Ok(Some(n)),
            _ => Err(err("priority", "priority: a whole number from -100 (yield) to 100 (urgent)")),
        },
    }
}

fn name(text: &str) -> Result<Option<String>, FieldError> {
    match text.trim() {
        "" => Ok(None),
        name => check_task_name(name).map(|()| Some(name.to_string())).map_err(|m| err("name", m)),
    }
}

fn targets(picked: &[PickedNode]) -> Result<Vec<String>, FieldError> {
    let mut out = Vec::new();
    for p in picked {
        let text = p.target();
        text.parse::<Target>().map_err(|e| err("targets", e.to_string()))?;
        out.push(text);
    }
    Ok(out)
}

impl TaskForm {
    pub fn request(&self) -> Result<TaskRequest, FieldError> {
        let command = self.command.trim();
        if command.is_empty() {
            return Err(err("command", "a command is required"));
        }
        let mut env_vars = BTreeMap::new();
        for line in lines(&self.env_vars) {
            let (key, value) =
                line.split_once('=').ok_or_else(|| err("env_vars", format!("{line:?}: expected KEY=VALUE")))?;
            if !is_env_var_name(key) {
                return Err(err(
                    "env_vars",
                    format!("{key:?}: use letters, digits and '_', not starting with a digit"),
                ));
            }
            env_vars.insert(key.to_string(), value.to_string());
        }
        let mounts: Vec<String> = lines(&self.mounts).map(str::to_string).collect();
        for mount in &mounts {
            check_mount(mount).map_err(|m| err("additional_mounts", m))?;
        }
        let container_name = container(&self.container)?;
        let targets = targets(&self.targets)?;
        if container_name.as_deref() == Some(NO_CONTAINER) && self.targets.iter().any(|t| !t.gpus.is_empty()) {
            return Err(err("container_name", "GPUs need a container: pick an environment"));
        }
        let (depends_on, dependency) = parents(&self.after, &self.dependency)?;
        Ok(TaskRequest {
            task_type: TaskType::Command.as_str().into(),
            command: command.to_string(),
            arguments: lines(&self.arguments).map(str::to_string).collect(),
            env_vars,
            required_cores: cores(&self.cores, 1)?,
            required_gpus: None,
            required_memory_bytes: memory(&self.memory)?,
            targets: (!targets.is_empty()).then_some(targets),
            container_name,
            privileged: self.privileged.then_some(true),
            additional_mounts: (!mounts.is_empty()).then_some(mounts),
            queue: None,
            argument_sets: None,
            image: None,
            name: name(&self.name)?,
            time_limit_seconds: time_limit(&self.time_limit)?,
            depends_on,
            dependency,
            retries: retries(&self.retries)?,
            priority: priority(&self.priority)?,
        })
    }
}

impl VpsForm {
    pub fn request(&self) -> Result<TaskRequest, FieldError> {
        let key = parse_public_key(&self.public_key).map_err(|e| err("command", e.to_string()))?;
        let container_name = container(&self.container)?;
        if container_name.as_deref() == Some(NO_CONTAINER) {
            return Err(err("container_name", "a VPS needs a container: pick an environment"));
        }
        let targets = targets(self.target.as_slice())?;
        let mut line = key.authorized_key();
        if !key.comment.is_empty() {
            line = format!("{line} {}", key.comment);
        }
        Ok(TaskRequest {
            task_type: TaskType::Vps.as_str().into(),
            command: line,
            arguments: Vec::new(),
            env_vars: BTreeMap::new(),
            required_cores: cores(&self.cores, 0)?,
            required_gpus: None,
            required_memory_bytes: memory(&self.memory)?,
            targets: (!targets.is_empty()).then_some(targets),
            container_name,
            privileged: None,
            additional_mounts: None,
            queue: None,
            argument_sets: None,
            image: None,
            name: None,
            time_limit_seconds: time_limit(&self.time_limit)?,
            depends_on: None,
            dependency: None,
            retries: None,
            priority: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    fn form() -> TaskForm {
        TaskForm {
            command: "python".into(),
            arguments: "train.py\n--lr\n\n0.1\n".into(),
            env_vars: "A=1\nB=x=y".into(),
            cores: "2".into(),
            memory: "4G".into(),
            container: "torch".into(),
            mounts: "/data:/data:ro".into(),
            privileged: false,
            targets: vec![
                PickedNode { node: "n1".into(), numa: Some(1), gpus: vec![] },
                PickedNode { node: "n2".into(), numa: None, gpus: vec![0, 2] },
            ],
            name: " nightly eval ".into(),
            time_limit: "2h30m".into(),
            after: "11, 12".into(),
            dependency: "afterany".into(),
            retries: "2".into(),
            priority: "-10".into(),
        }
    }

    #[test]
    fn a_filled_form_is_the_request_the_cli_would_send() {
        let r = form().request().unwrap();
        assert_eq!(r.arguments, ["train.py", "--lr", "0.1"]);
        assert_eq!(r.env_vars["B"], "x=y");
        assert_eq!((r.required_cores, r.required_memory_bytes), (2, Some(4_000_000_000)));
        assert_eq!(r.targets, Some(vec!["n1:1".to_string(), "n2::0,2".to_string()]));
        assert_eq!(r.container_name.as_deref(), Some("torch"));
        assert_eq!((r.name.as_deref(), r.time_limit_seconds), (Some("nightly eval"), Some(9_000)));
        assert_eq!((r.depends_on, r.dependency), (Some(vec![TaskId(11), TaskId(12)]), Some(Dependency::AfterAny)));
        assert_eq!((r.retries, r.priority), (Some(2), Some(-10)));
        let empty = TaskForm { command: "true".into(), ..Default::default() }.request().unwrap();
        assert_eq!((empty.required_cores, empty.targets, empty.container_name), (1, None, None));
        assert_eq!(
            (empty.name, empty.time_limit_seconds, empty.depends_on, empty.dependency),
            (None, None, None, None)
        );
    }

    #[test]
    fn each_mistake_names_its_field() {
        let cases = [
            (TaskForm { command: " ".into(), ..form() }, "command"),
            (TaskForm { env_vars: "NOEQUALS".into(), ..form() }, "env_vars"),
            (TaskForm { env_vars: "1A=x".into(), ..form() }, "env_vars"),
            (TaskForm { cores: "two".into(), ..form() }, "required_cores"),
            (TaskForm { memory: "12Q".into(), ..form() }, "required_memory_bytes"),
            (TaskForm { memory: "0".into(), ..form() }, "required_memory_bytes"),
            (TaskForm { container: "Bad/Name".into(), ..form() }, "container_name"),
            (TaskForm { container: "NULL".into(), ..form() }, "container_name"),
            (TaskForm { mounts: "relative:/x".into(), ..form() }, "additional_mounts"),
            (TaskForm { time_limit: "90".into(), ..form() }, "time_limit_seconds"),
            (TaskForm { time_limit: "0".into(), ..form() }, "time_limit_seconds"),
            (TaskForm { after: "12, x".into(), ..form() }, "depends_on"),
            (TaskForm { dependency: "after".into(), ..form() }, "dependency"),
            (TaskForm { retries: "11".into(), ..form() }, "retries"),
            (TaskForm { retries: "-1".into(), ..form() }, "retries"),
            (TaskForm { priority: "101".into(), ..form() }, "priority"),
            (TaskForm { name: "a\u{7}b".into(), ..form() }, "name"),
        ];
        for (f, field) in cases {
            assert_eq!(f.request().unwrap_err().field, field, "{f:?}");
        }
    }

    #[test]
    fn a_vps_form() {
        let f = VpsForm { public_key: format!("  {KEY}\n"), cores: String::new(), ..Default::default() };
        let r = f.request().unwrap();
        assert_eq!((r.task_type.as_str(), r.command.as_str(), r.required_cores), ("vps", KEY, 0));
        let bad = VpsForm { public_key: "ssh-rsa nope".into(), ..Default::default() };
        assert_eq!(bad.request().unwrap_err().field, "command");
        let null = VpsForm { public_key: KEY.into(), container: "NULL".into(), ..Default::default() };
        assert_eq!(null.request().unwrap_err().field, "container_name");
    }
}
