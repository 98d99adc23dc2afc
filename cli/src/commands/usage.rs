//! `hakuriver usage [--since 7d] [--by user|node]`: core-, CPU- and GPU-hours and task counts
//! per user or node over a window, like Slurm's `sreport`.

use hakuriver_model::usage::{hours_text, UsageBy, UsageReport, UsageRow};

use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::{Output, Tone};
use crate::table::{self, Cell};

pub async fn run(ctx: &Ctx, since: String, by: UsageBy) -> Result<(), Failure> {
    let client = ctx.client()?;
    let query = [("since", since.clone()), ("by", by.to_string())];
    let report: UsageReport = client.get_query("/api/usage", &query).await?;
    let names = || report.rows.iter().map(|r| r.name.clone()).collect();
    ctx.out.print(&report, names, || render(&ctx.out, &report, &since))?;
    Ok(())
}

fn hours(h: f64) -> Cell {
    hours_text(h).into()
}

fn row(r: &UsageRow) -> Vec<Cell> {
    vec![
        r.name.clone().into(),
        r.tasks.to_string().into(),
        r.running.to_string().into(),
        hours(r.core_hours),
        hours(r.cpu_hours),
        hours(r.gpu_hours),
    ]
}

pub fn render(out: &Output, report: &UsageReport, since: &str) -> String {
    let mut text = format!("{} since {since}, by {}\n", out.paint("usage", Tone::Bold), report.by);
    if report.rows.is_empty() {
        text += "No task ran in this window.\n";
        return text;
    }
    let mut rows: Vec<Vec<Cell>> = report.rows.iter().map(row).collect();
    rows.push(row(&report.total));
    let first = match report.by {
        UsageBy::User => "USER",
        UsageBy::Node => "NODE",
    };
    text += &table::render(out, &[first, "TASKS", "RUNNING", "CORE TIME", "CPU TIME", "GPU TIME"], &rows);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;

    #[test]
    fn a_row_per_user_then_the_total() {
        let alice =
            UsageRow { name: "alice".into(), tasks: 3, running: 1, core_hours: 12.5, cpu_hours: 10.0, gpu_hours: 2.0 };
        let total = UsageRow { name: "total".into(), ..alice.clone() };
        let report = UsageReport { by: UsageBy::User, since_ms: 0, until_ms: 1, rows: vec![alice], total };
        let text = render(&Output { mode: Mode::Human, color: false }, &report, "7d");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "usage since 7d, by user");
        assert!(lines[1].starts_with("USER") && lines[1].contains("CORE TIME"), "{text}");
        assert!(lines[2].starts_with("alice") && lines[2].contains("12.50 h") && lines[2].contains("2.00 h"), "{text}");
        assert!(lines[3].starts_with("total"), "{text}");
        let empty = UsageReport { by: UsageBy::Node, ..UsageReport::default() };
        assert!(render(&Output { mode: Mode::Human, color: false }, &empty, "1d").contains("No task ran"));
    }
}
