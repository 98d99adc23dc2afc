//! `task submit`'s options → the host's `TaskRequest` (pure, so every rule has a test). Spans in
//! the arguments make a sweep: one task per combination, all in one batch.

use std::collections::BTreeMap;

use hakuriver_model::{parse_bytes, TaskRequest};

use crate::sweep;

/// `KEY=VALUE` → `(KEY, VALUE)`.
pub fn parse_env(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("invalid --env {p:?}: expected KEY=VALUE")),
        })
        .collect()
}

/// Options of `task submit`, as typed.
pub struct SubmitArgs {
    pub targets: Vec<String>,
    pub cores: u32,
    pub memory: Option<String>,
    pub env: Vec<String>,
    pub container: Option<String>,
    /// A registry image instead of an environment.
    pub image: Option<String>,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub no_queue: bool,
    pub command: Vec<String>,
}

pub fn request(a: SubmitArgs) -> Result<TaskRequest, String> {
    let (command, arguments) = a.command.split_first().ok_or("a command is required after --")?;
    let memory = a.memory.as_deref().map(parse_bytes).transpose().map_err(|e| format!("--memory: {e}"))?;
    let (arguments, argument_sets) = if sweep::is_sweep(arguments) {
        (Vec::new(), Some(sweep::expand(arguments).map_err(|e| e.to_string())?))
    } else {
        (arguments.to_vec(), None)
    };
    Ok(TaskRequest {
        task_type: hakuriver_model::TaskType::Command.as_str().into(),
        command: command.clone(),
        arguments,
        env_vars: parse_env(&a.env)?,
        required_cores: a.cores,
        required_gpus: None,
        required_memory_bytes: memory,
        targets: (!a.targets.is_empty()).then_some(a.targets),
        container_name: a.container,
        privileged: a.privileged.then_some(true),
        additional_mounts: (!a.mounts.is_empty()).then_some(a.mounts),
        queue: a.no_queue.then_some(false),
        argument_sets,
        image: a.image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &[&str]) -> SubmitArgs {
        SubmitArgs {
            targets: vec!["n1:0".into()],
            cores: 2,
            memory: Some("4G".into()),
            env: vec!["A=1".into(), "B=x=y".into()],
            container: Some("NULL".into()),
            image: None,
            privileged: false,
            mounts: vec![],
            no_queue: true,
            command: command.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn builds_the_original_request() {
        let r = request(args(&["python", "train.py", "--lr", "0.1"])).unwrap();
        assert_eq!((r.command.as_str(), r.arguments.len()), ("python", 3));
        assert_eq!(r.required_memory_bytes, Some(4_000_000_000));
        assert_eq!(r.env_vars["B"], "x=y");
        assert_eq!(r.queue, Some(false));
        assert_eq!(r.privileged, None, "the host's default unless asked");
        assert_eq!(r.argument_sets, None, "no span: the original's wire shape");
    }

    #[test]
    fn spans_make_one_request_with_every_combination() {
        let r = request(args(&["python", "train.py", "--seed", "span:{1..3}", "span:[a,b]"])).unwrap();
        assert_eq!(r.command, "python");
        assert!(r.arguments.is_empty());
        let sets = r.argument_sets.unwrap();
        assert_eq!(sets.len(), 6);
        assert_eq!(sets[0], ["train.py", "--seed", "1", "a"]);
        assert_eq!(sets[5], ["train.py", "--seed", "3", "b"]);
        assert!(request(args(&["x", "span:{5..1}"])).unwrap_err().contains("FIRST is greater"));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(request(args(&[])).is_err());
        assert!(request(SubmitArgs { memory: Some("12Q".into()), ..args(&["x"]) }).unwrap_err().contains("--memory"));
        assert!(request(SubmitArgs { env: vec!["NOEQUALS".into()], ..args(&["x"]) }).is_err());
    }
}
