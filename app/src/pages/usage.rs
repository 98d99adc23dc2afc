//! Usage: core-, CPU- and GPU-hours and task counts per user (or node) over a window, as a bar
//! chart and a table, like Slurm's `sreport` (`GET /api/usage`'s report, through the
//! `usage_summary` server function).

use hakuriver_model::usage::{hours_text, UsageBy, UsageQuery, UsageReport, UsageRow, DEFAULT_SINCE};
use leptos::prelude::*;

use crate::server_fns::usage_summary;

/// The windows offered.
const WINDOWS: &[(&str, &str)] =
    &[("1d", "last day"), ("7d", "last 7 days"), ("30d", "last 30 days"), ("366d", "last year")];

#[component]
pub fn UsagePage() -> impl IntoView {
    let since = RwSignal::new(DEFAULT_SINCE.to_string());
    let by = RwSignal::new(UsageBy::User);
    let report = Resource::new(
        move || (since.get(), by.get()),
        |(since, by)| usage_summary(UsageQuery { since: Some(since), by: Some(by.to_string()) }),
    );
    view! {
        <h1>"Usage"</h1>
        <div class="usage-controls">
            <label>"Window "
                <select data-testid="usage-since" on:change=move |ev| since.set(event_target_value(&ev))>
                    {WINDOWS.iter().map(|(value, text)| view! {
                        <option value=*value selected=*value == DEFAULT_SINCE>{*text}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>" by "
                <select data-testid="usage-by" on:change=move |ev| {
                    by.set(event_target_value(&ev).parse().unwrap_or_default())
                }>
                    <option value="user" selected=true>"user"</option>
                    <option value="node">"node"</option>
                </select>
            </label>
        </div>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(r) if r.rows.is_empty() => {
                        view! { <p class="empty" data-testid="usage-empty">"No task ran in this window."</p> }.into_any()
                    }
                    Ok(r) => view! { <UsageChart report=r.clone()/> <UsageTable report=r/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// One bar's length, as a share of the longest (0 … 1).
pub fn share(value: f64, max: f64) -> f64 {
    if max > 0.0 && value.is_finite() {
        (value / max).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

const LABEL_WIDTH: f64 = 140.0;
const BAR_AREA: f64 = 420.0;
const ROW_HEIGHT: f64 = 34.0;

/// Two bars per row: core-hours (each scaled to the most core-hours) and GPU-hours (to the most
/// GPU-hours; none when no GPU was used), with their values.
#[component]
fn UsageChart(report: UsageReport) -> impl IntoView {
    let max_cores = report.rows.iter().map(|r| r.core_hours).fold(0.0, f64::max);
    let max_gpus = report.rows.iter().map(|r| r.gpu_hours).fold(0.0, f64::max);
    let gpus = max_gpus > 0.0;
    let height = ROW_HEIGHT * report.rows.len() as f64 + 24.0;
    let bar = |row: &UsageRow, metric: &'static str, value: f64, max: f64, y: f64, color: &'static str| {
        let width = share(value, max) * BAR_AREA;
        view! {
            <rect class="usage-bar" x=LABEL_WIDTH y=y width=format!("{width:.1}") height="11" fill=color
                data-name=row.name.clone() data-metric=metric data-value=format!("{value:.4}")/>
            <text x=LABEL_WIDTH + width + 6.0 y=y + 10.0 class="usage-value">{hours_text(value)}</text>
        }
    };
    view! {
        <figure class="usage-chart">
            <svg data-testid="usage-chart" viewBox=format!("0 0 640 {height}") role="img"
                aria-label=format!("core-hours and GPU-hours per {}", report.by)>
                {report.rows.iter().enumerate().map(|(i, row)| {
                    let y = 8.0 + i as f64 * ROW_HEIGHT;
                    view! {
                        <text x="0" y=y + 16.0 class="usage-name">{row.name.clone()}</text>
                        {bar(row, "core_hours", row.core_hours, max_cores, y, crate::chart::PALETTE[0])}
                        {gpus.then(|| bar(row, "gpu_hours", row.gpu_hours, max_gpus, y + 13.0, crate::chart::PALETTE[1]))}
                    }
                }).collect_view()}
            </svg>
            <figcaption class="legend">
                <span style=format!("color: {}", crate::chart::PALETTE[0])>"■ core-hours"</span>
                {gpus.then(|| view! {
                    " " <span style=format!("color: {}", crate::chart::PALETTE[1])>"■ GPU-hours"</span>
                })}
            </figcaption>
        </figure>
    }
}

#[component]
fn UsageTable(report: UsageReport) -> impl IntoView {
    let first = match report.by {
        UsageBy::User => "User",
        UsageBy::Node => "Node",
    };
    let row = |r: &UsageRow, class: &'static str| {
        view! {
            <tr class=class data-name=r.name.clone()>
                <td>{r.name.clone()}</td>
                <td>{r.tasks}</td>
                <td>{r.running}</td>
                <td>{hours_text(r.core_hours)}</td>
                <td>{hours_text(r.cpu_hours)}</td>
                <td>{hours_text(r.gpu_hours)}</td>
            </tr>
        }
    };
    view! {
        <div class="table-wrap">
            <table data-testid="usage-table">
                <thead><tr>
                    <th>{first}</th><th>"Tasks"</th><th>"Running"</th><th>"Core time"</th><th>"CPU time"</th>
                    <th>"GPU time"</th>
                </tr></thead>
                <tbody>
                    {report.rows.iter().map(|r| row(r, "")).collect_view()}
                    {row(&report.total, "usage-total")}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_shares_of_the_longest() {
        assert_eq!(share(5.0, 10.0), 0.5);
        assert_eq!(share(10.0, 10.0), 1.0);
        assert_eq!(share(3.0, 0.0), 0.0, "nothing to scale to: no bar");
        assert_eq!(share(f64::NAN, 1.0), 0.0);
    }
}
