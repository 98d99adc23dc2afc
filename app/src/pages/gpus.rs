//! GPUs: per online node, a card per GPU (utilization, memory, temperature, power, clocks) with
//! the last hour of its load and temperature.

use hakuriver_model::{GpuInfo, NodeInfo, NodeStatus};
use leptos::prelude::*;

use super::{WithHistory, WithNodes};
use crate::chart::LineChart;
use crate::series::{gpu_load, gpu_temperature};

#[component]
pub fn GpusPage() -> impl IntoView {
    view! {
        <h1>"GPU Overview"</h1>
        <WithNodes content=|nodes| view! { <GpuNodes nodes/> }.into_any()/>
    }
}

#[component]
fn GpuNodes(nodes: Signal<Vec<NodeInfo>>) -> impl IntoView {
    let with_gpus = move || {
        nodes.with(|n| {
            n.iter().filter(|n| n.status == NodeStatus::Online && !n.gpu_info.is_empty()).cloned().collect::<Vec<_>>()
        })
    };
    view! {
        <Show
            when=move || !with_gpus().is_empty()
            fallback=|| view! { <p class="empty" data-testid="no-gpus">"No online node reports a GPU."</p> }
        >
            {move || with_gpus().into_iter().map(|node| {
                let hostname = node.hostname.clone();
                view! {
                    <section class="gpu-node" data-node=hostname.clone()>
                        <h2>{hostname.clone()}</h2>
                        <div class="gpu-cards">
                            {node.gpu_info.into_iter().map(|gpu| view! { <GpuCard hostname=hostname.clone() gpu/> }).collect_view()}
                        </div>
                    </section>
                }
            }).collect_view()}
        </Show>
    }
}

/// A bar for a percentage: green under 50, amber under 80, red above (as the original).
#[component]
fn Meter(#[prop(into)] label: String, percent: Option<f64>) -> impl IntoView {
    let value = percent.unwrap_or(0.0).clamp(0.0, 100.0);
    let level = if value < 50.0 {
        "low"
    } else if value < 80.0 {
        "mid"
    } else {
        "high"
    };
    let text = percent.map_or("–".to_string(), |p| format!("{p:.0} %"));
    view! {
        <div class="meter-row">
            <span class="meter-label">{label.clone()}</span>
            <meter min="0" max="100" low="50" high="80" optimum="0" value=value class=format!("meter-{level}") aria-label=label></meter>
            <span class="meter-value">{text}</span>
        </div>
    }
}

fn known(v: i64) -> Option<i64> {
    (v >= 0).then_some(v)
}

#[component]
fn GpuCard(hostname: String, gpu: GpuInfo) -> impl IntoView {
    let id = gpu.gpu_id;
    let memory_percent = (gpu.memory_total_mib > 0.0).then(|| 100.0 * gpu.memory_used_mib / gpu.memory_total_mib);
    let power = match (known(gpu.power_usage_mw), known(gpu.power_limit_mw)) {
        (Some(u), Some(l)) => format!("{:.0} / {:.0} W", u as f64 / 1000.0, l as f64 / 1000.0),
        (Some(u), None) => format!("{:.0} W", u as f64 / 1000.0),
        _ => "–".into(),
    };
    let clocks = match (known(gpu.graphics_clock_mhz), known(gpu.mem_clock_mhz)) {
        (Some(g), Some(m)) => format!("{g} / {m} MHz"),
        _ => "–".into(),
    };
    let name = StoredValue::new(hostname);
    view! {
        <article class="card gpu-card" data-gpu=id.to_string()>
            <h3>{format!("GPU {id}: {}", gpu.name)}</h3>
            <p class="muted">{format!("driver {} · {}", gpu.driver_version, gpu.pci_bus_id)}</p>
            <Meter label="Utilization" percent=known(gpu.gpu_utilization).map(|v| v as f64)/>
            <Meter label="Memory" percent=memory_percent/>
            <dl class="fields">
                <dt>"Memory"</dt><dd>{format!("{:.0} / {:.0} MiB", gpu.memory_used_mib, gpu.memory_total_mib)}</dd>
                <dt>"Temperature"</dt><dd>{known(gpu.temperature).map_or("–".into(), |t| format!("{t} °C"))}</dd>
                <dt>"Power"</dt><dd>{power}</dd>
                <dt>"Clocks (graphics / memory)"</dt><dd>{clocks}</dd>
                <dt>"Fan"</dt><dd>{known(gpu.fan_speed).map_or("–".into(), |f| format!("{f} %"))}</dd>
            </dl>
            <WithHistory content=move |history| {
                let samples = move || history.with(|h| h.get(&name.get_value()).cloned().unwrap_or_default());
                view! {
                    <LineChart title="Utilization and memory" unit="%" y_max=Some(100.0)
                        series=Signal::derive(move || gpu_load(&samples(), id)) testid=format!("chart-gpu-{id}")/>
                    <LineChart title="Temperature" unit="°C" y_max=None
                        series=Signal::derive(move || gpu_temperature(&samples(), id))/>
                }.into_any()
            }/>
        </article>
    }
}
