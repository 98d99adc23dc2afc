//! `task submit`'s options → the host's `TaskRequest` (pure, so every rule has a test). Spans in
//! the arguments make a sweep: one task per combination, all in one batch.

use std::collections::BTreeMap;

use hakuriver_model::span::Span;
use hakuriver_model::task::Dependency;
use hakuriver_model::{parse_bytes, TaskId, TaskRequest};

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

/// When and how long a task runs: shared by `task submit` and (but for `--after`) `vps create`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Scheduling {
    /// A name to find the task by (`task list --name`).
    #[arg(long)]
    pub name: Option<String>,
    /// Time limit: 2h30m, 90m, 1d, 2:30:00. At the limit the task gets SIGTERM, then SIGKILL, and
    /// ends `timeout`. None: your role's default ([limits]).
    #[arg(long, value_name = "SPAN")]
    pub time: Option<String>,
    /// Start only after these tasks completed (Slurm's afterok); comma-separated or repeated.
    #[arg(long, value_name = "ID[,ID]", value_delimiter = ',')]
    pub after: Vec<String>,
    /// With --after: start once they ended, however (afterany).
    #[arg(long, requires = "after", conflicts_with = "after_fail")]
    pub after_any: bool,
    /// With --after: start only if they ended other than completed (afternotok).
    #[arg(long, requires = "after")]
    pub after_fail: bool,
    /// Queue it again, up to N times, if its node is lost or it cannot start (not when it fails
    /// by itself).
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// -100 (yield) to 100 (urgent); above 0 needs [limits] raise_priority_role.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i32>,
}

/// The request's scheduling fields: `(name, time_limit_seconds, depends_on, dependency)`.
type ScheduleFields = (Option<String>, Option<u64>, Option<Vec<TaskId>>, Option<Dependency>);

/// `--time SPAN` in seconds.
pub fn time_limit(text: Option<&str>) -> Result<Option<u64>, String> {
    match text.map(str::parse::<Span>).transpose().map_err(|e| format!("--time: {e}"))? {
        Some(Span(0)) => Err("--time: the time limit must be more than 0".into()),
        span => Ok(span.map(|s| s.0)),
    }
}

impl Scheduling {
    pub fn fields(&self) -> Result<ScheduleFields, String> {
        let time = time_limit(self.time.as_deref())?;
        let after = self
            .after
            .iter()
            .map(|id| id.trim().parse::<TaskId>().map_err(|e| format!("--after: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let dependency = match (self.after_any, self.after_fail) {
            (true, _) => Dependency::AfterAny,
            (_, true) => Dependency::AfterNotOk,
            _ => Dependency::AfterOk,
        };
        let (depends_on, dependency) = if after.is_empty() { (None, None) } else { (Some(after), Some(dependency)) };
        Ok((self.name.clone(), time, depends_on, dependency))
    }
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
    pub scheduling: Scheduling,
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
    let (name, time_limit_seconds, depends_on, dependency) = a.scheduling.fields()?;
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
        retries: a.scheduling.retries,
        priority: a.scheduling.priority,
        name,
        time_limit_seconds,
        depends_on,
        dependency,
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
            scheduling: Scheduling::default(),
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
    fn names_time_limits_and_dependencies() {
        let plain = request(args(&["x"])).unwrap();
        assert_eq!(
            (plain.name, plain.time_limit_seconds, plain.depends_on, plain.dependency),
            (None, None, None, None)
        );
        let scheduling = Scheduling {
            name: Some("prep".into()),
            time: Some("2h30m".into()),
            after: vec!["11".into(), " 12".into()],
            after_fail: true,
            ..Scheduling::default()
        };
        let r = request(SubmitArgs { scheduling, ..args(&["x"]) }).unwrap();
        assert_eq!((r.name.as_deref(), r.time_limit_seconds), (Some("prep"), Some(9_000)));
        assert_eq!((r.depends_on, r.dependency), (Some(vec![TaskId(11), TaskId(12)]), Some(Dependency::AfterNotOk)));
        let ok_by_default = Scheduling { after: vec!["11".into()], ..Scheduling::default() };
        assert_eq!(ok_by_default.fields().unwrap().3, Some(Dependency::AfterOk));
        for (bad, why) in [
            (Scheduling { time: Some("90".into()), ..Scheduling::default() }, "--time"),
            (Scheduling { time: Some("0".into()), ..Scheduling::default() }, "more than 0"),
            (Scheduling { after: vec!["soon".into()], ..Scheduling::default() }, "--after"),
        ] {
            assert!(bad.fields().unwrap_err().contains(why), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(request(args(&[])).is_err());
        assert!(request(SubmitArgs { memory: Some("12Q".into()), ..args(&["x"]) }).unwrap_err().contains("--memory"));
        assert!(request(SubmitArgs { env: vec!["NOEQUALS".into()], ..args(&["x"]) }).is_err());
    }
}
