//! `hakuriver sweep`: the original's `hakurun` on this machine. Without `--local` it prints the
//! command lines a sweep stands for; with it, runs them here (no shell: each argument goes to the
//! program as it is), one after another or in parallel.

use std::process::Stdio;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::Mode;
use crate::shapes::SweepRun;
use crate::sweep;

pub struct SweepArgs {
    pub local: bool,
    pub parallel: bool,
    pub jobs: Option<usize>,
    pub command: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: SweepArgs) -> Result<(), Failure> {
    let (program, args) = a.command.split_first().ok_or_else(|| Failure::usage("a command is required after --"))?;
    let lines: Vec<Vec<String>> = sweep::expand(args)
        .map_err(Failure::usage)?
        .into_iter()
        .map(|line| std::iter::once(program.clone()).chain(line).collect())
        .collect();
    if !a.local {
        let plan: Vec<SweepRun> = lines.iter().map(|argv| SweepRun { argv: argv.clone(), exit_code: None }).collect();
        let text = || lines.iter().map(|l| format!("{}\n", display(l))).collect::<String>();
        return Ok(ctx.out.print(&plan, || text().lines().map(String::from).collect(), text)?);
    }
    let limit = match (a.jobs, a.parallel) {
        (Some(0), _) => return Err(Failure::usage("--jobs must be at least 1")),
        (Some(n), _) => n,
        (None, true) => lines.len().max(1),
        (None, false) => 1,
    };
    let runs = run_all(ctx, lines, limit).await;
    if ctx.out.mode == Mode::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    }
    let failed = runs.iter().filter(|r| r.exit_code != Some(0)).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::failed(format!("{failed} of {} command lines failed", runs.len())))
    }
}

/// Runs every line, at most `limit` at a time; returns them in order with their exit codes.
async fn run_all(ctx: &Ctx, lines: Vec<Vec<String>>, limit: usize) -> Vec<SweepRun> {
    let total = lines.len();
    let gate = Arc::new(Semaphore::new(limit));
    // With --json the programs' output goes to standard error, keeping standard output one document.
    let to_stderr = ctx.out.mode == Mode::Json;
    let quiet = ctx.out.mode != Mode::Human;
    let mut handles = Vec::new();
    for (i, argv) in lines.into_iter().enumerate() {
        let gate = gate.clone();
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            if !quiet {
                eprintln!("[{}/{total}] {}", i + 1, display(&argv));
            }
            let mut command = tokio::process::Command::new(&argv[0]);
            command.args(&argv[1..]).stdin(Stdio::null());
            if to_stderr {
                command.stdout(std::io::stderr());
            }
            let exit_code = match command.status().await {
                Ok(status) => status.code(),
                Err(e) => {
                    eprintln!("[{}/{total}] cannot run {}: {e}", i + 1, argv[0]);
                    Some(127)
                }
            };
            if exit_code != Some(0) {
                eprintln!("[{}/{total}] exited with {}", i + 1, exit_code.map_or("a signal".into(), |c| c.to_string()));
            }
            SweepRun { argv, exit_code }
        }));
    }
    let mut runs = Vec::new();
    for handle in handles {
        if let Ok(run) = handle.await {
            runs.push(run);
        }
    }
    runs
}

/// A command line as a person would type it (for showing only; nothing is run through a shell).
pub fn display(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let argv: Vec<String> = ["python", "-c", "print('hi')", "a b", ""].iter().map(|s| s.to_string()).collect();
        assert_eq!(display(&argv), r#"python -c 'print('\''hi'\'')' 'a b' ''"#);
    }
}
