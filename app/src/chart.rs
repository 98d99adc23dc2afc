//! Line charts drawn as SVG by Leptos (no chart library): time on the x axis with clock labels,
//! values on the y axis with their unit, gridlines, a legend. The geometry is plain functions.

use leptos::prelude::*;

/// One line: its name, colour and `(time in ms, value)` points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(i64, f64)>,
}

/// Colours for successive series (readable on white, distinct for common colour blindness).
pub const PALETTE: &[&str] = &["#2f6fed", "#d9822b", "#1f9d55", "#cc3b3b", "#7b4fd6", "#00838f", "#8d6e63"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The smallest "round" number (1, 2, 2.5, 5 × 10ⁿ) at or above `v`; 1 for nothing.
pub fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|c| *c >= v - 1e-9).unwrap_or(10.0 * magnitude)
}

/// `n + 1` evenly spaced values from `lo` to `hi`.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let n = n.max(1);
    (0..=n).map(|i| lo + (hi - lo) * i as f64 / n as f64).collect()
}

/// The time window shown: from the oldest to the newest point (at least a minute).
pub fn time_range(series: &[Series]) -> Option<(i64, i64)> {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo <= hi).then(|| (lo.min(hi - 60_000), hi))
}

/// Where a point lands in the plot area.
fn position((t, v): (i64, f64), (t0, t1): (i64, i64), y_max: f64) -> (f64, f64) {
    let span = (t1 - t0).max(1) as f64;
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    (LEFT + (t - t0) as f64 / span * w, TOP + h - (v.clamp(0.0, y_max) / y_max) * h)
}

/// SVG path data for `points` in the plot area.
pub fn path(points: &[(i64, f64)], range: (i64, i64), y_max: f64) -> String {
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        let (x, y) = position(*p, range, y_max);
        d += &format!("{}{x:.1},{y:.1} ", if i == 0 { 'M' } else { 'L' });
    }
    d.trim_end().to_string()
}

/// `HH:MM` of a millisecond time stamp (the host's local wall clock); `HH:MM:SS` when the chart
/// spans less than ten minutes.
pub fn clock(t: i64, span_ms: i64) -> String {
    let format = if span_ms < 600_000 { "%H:%M:%S" } else { "%H:%M" };
    chrono::DateTime::from_timestamp_millis(t).map(|d| d.format(format).to_string()).unwrap_or_default()
}

/// A value with its unit on the y axis: `50 %`, `2.5 GiB`, `70 °C`.
fn label(v: f64, unit: &str) -> String {
    let digits = if v.fract().abs() < 1e-9 { 0 } else { 1 };
    format!("{v:.digits$} {unit}")
}

/// A line chart of `series`; `y_max: None` scales to the data.
#[component]
pub fn LineChart(
    #[prop(into)] title: String,
    series: Signal<Vec<Series>>,
    unit: &'static str,
    y_max: Option<f64>,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let scale = move || {
        y_max.unwrap_or_else(|| {
            nice_ceiling(series.with(|s| s.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max)))
        })
    };
    let aria = title.clone();
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>{title}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=aria preserveAspectRatio="xMidYMid meet">
                {move || {
                    let max = scale();
                    ticks(0.0, max, 4).into_iter().map(|v| {
                        let y = TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
                        view! {
                            <line class="grid" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y/>
                            <text class="axis" x=LEFT - 6.0 y=y + 4.0 text-anchor="end">{label(v, unit)}</text>
                        }
                    }).collect_view()
                }}
                {move || series.with(|s| time_range(s)).map(|(t0, t1)| {
                    let all = ticks(t0 as f64, t1 as f64, 4);
                    let last = all.len() - 1;
                    all.into_iter().enumerate().map(|(i, t)| {
                        let x = LEFT + (t - t0 as f64) / ((t1 - t0).max(1) as f64) * (WIDTH - LEFT - RIGHT);
                        let anchor = if i == 0 { "start" } else if i == last { "end" } else { "middle" };
                        view! { <text class="axis" x=x y=HEIGHT - 8.0 text-anchor=anchor>{clock(t as i64, t1 - t0)}</text> }
                    }).collect_view()
                })}
                {move || {
                    let max = scale();
                    series.with(|all| {
                        let range = time_range(all);
                        all.iter().filter_map(|s| Some((s, *s.points.last()?, range?))).map(|(s, last, range)| {
                            let d = path(&s.points, range, max);
                            // The newest reading as a dot: visible even while a line has one point.
                            let (cx, cy) = position(last, range, max);
                            view! {
                                <path class="line" d=d stroke=s.color fill="none" stroke-width="2"/>
                                <circle cx=format!("{cx:.1}") cy=format!("{cy:.1}") r="3" fill=s.color/>
                            }
                        }).collect_view()
                    })
                }}
            </svg>
            <ul class="legend">
                {move || series.get().into_iter().map(|s| view! {
                    <li><span class="swatch" style=format!("background:{}", s.color)></span>{s.label}</li>
                }).collect_view()}
            </ul>
            {move || series.with(|s| s.iter().all(|s| s.points.is_empty())).then(|| view! {
                <p class="empty">"No readings yet."</p>
            })}
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(73.0), 100.0);
        assert_eq!(nice_ceiling(42.0), 50.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(ticks(0.0, 100.0, 4), [0.0, 25.0, 50.0, 75.0, 100.0]);
    }

    #[test]
    fn points_land_in_the_plot_area() {
        let d = path(&[(0, 0.0), (60_000, 100.0), (120_000, 250.0)], (0, 120_000), 100.0);
        assert_eq!(
            d,
            format!(
                "M{LEFT:.1},{:.1} L{:.1},{TOP:.1} L{:.1},{TOP:.1}",
                HEIGHT - BOTTOM,
                (LEFT + WIDTH - RIGHT) / 2.0,
                WIDTH - RIGHT
            )
        );
        let s = Series { label: "a".into(), color: "red", points: vec![(500_000, 1.0)] };
        assert_eq!(time_range(&[s]), Some((440_000, 500_000)), "at least a minute");
        assert_eq!(time_range(&[]), None);
        assert_eq!(clock(3_600_000 * 13 + 60_000 * 5, 3_600_000), "13:05");
        assert_eq!(clock(3_600_000 * 13 + 60_000 * 5 + 7_000, 60_000), "13:05:07");
    }
}
