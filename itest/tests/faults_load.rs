// suite: faults
//! Load through the real host, runner and Docker engine: a thousand tasks drained under a mixed
//! API load, and fifty terminals open at once, with the latencies they saw.

use std::time::Duration;

use hakuriver_itest::fault_cluster::*;
use hakuriver_itest::images::BUSYBOX_ENV;
use hakuriver_itest::{wait_for_node, ClusterDir};
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};

/// What the mixed API load saw.
#[derive(Default)]
struct LoadFigures {
    sent: u32,
    server_errors: Vec<String>,
    latencies_ms: Vec<f64>,
    submitted: Vec<(String, String)>,
}

/// One request of the mixed load, by its turn `n`: one in six is a submit, the rest read what a
/// dashboard and scripts read.
async fn mixed_request(
    http: &reqwest::Client,
    base: &str,
    node: &str,
    n: u32,
    known: &str,
) -> (String, reqwest::Result<(u16, Option<String>)>) {
    let what = match n % 6 {
        0 => "submit",
        1 => "nodes",
        2 => "page",
        3 => "status",
        4 => "health",
        _ => "stdout",
    };
    let request = match what {
        "submit" => {
            http.post(format!("{base}/api/submit")).json(&json!({"command": "echo", "arguments": [format!("load-{n}")],
            "targets": [node], "container_name": "NULL"}))
        }
        "nodes" => http.get(format!("{base}/api/nodes")),
        "page" => http.get(format!("{base}/api/tasks/page?limit=50")),
        "status" => http.get(format!("{base}/api/status/{known}")),
        "health" => http.get(format!("{base}/api/health")),
        _ => http.get(format!("{base}/api/task/{known}/stdout")),
    };
    let result = async {
        let r = request.send().await?;
        let status = r.status().as_u16();
        let body: Option<String> = if what == "submit" && status == 202 {
            let v: Value = r.json().await?;
            v["task_ids"][0].as_str().map(str::to_string)
        } else {
            r.bytes().await?;
            None
        };
        Ok((status, body))
    }
    .await;
    (what.to_string(), result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_drain_under_a_mixed_api_load_of_200_requests_a_second() {
    // Production timing (heartbeats every 5 s, offline after 30 s): the load must not starve them.
    let dir = ClusterDir::with_timing(5.0, 6.0);
    let base = dir.base_url();
    let _host = dir.start_host();
    let _runner = dir.start_runner("fault-load");
    wait_for_node(&base, "fault-load", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    // A thousand tasks queued at once, in one batch.
    let sets: Vec<Vec<String>> = (0..1000).map(|i| vec![format!("batch-{i}")]).collect();
    let r = http
        .post(format!("{base}/api/submit"))
        .json(&json!({"command": "echo", "argument_sets": sets, "targets": ["fault-load"], "container_name": "NULL"}))
        .send()
        .await
        .expect("submit the batch");
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.expect("JSON");
    let batch: Vec<String> =
        answer["task_ids"].as_array().expect("ids").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    assert_eq!(batch.len(), 1000, "{answer}");
    let queued = std::time::Instant::now();

    // 200 requests a second for 60 s while they drain; every answer timed.
    let figures = std::sync::Arc::new(tokio::sync::Mutex::new(LoadFigures::default()));
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = Vec::new();
    for n in 0..12_000u32 {
        tick.tick().await;
        let (http, base, figures, known) =
            (http.clone(), base.clone(), figures.clone(), batch[(n as usize) % 1000].clone());
        requests.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let (what, result) = mixed_request(&http, &base, "fault-load", n, &known).await;
            let mut f = figures.lock().await;
            f.sent += 1;
            f.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            match result {
                Ok((status, _)) if status >= 500 => f.server_errors.push(format!("{what}: HTTP {status}")),
                Ok((_, Some(id))) => f.submitted.push((id, format!("load-{n}\n"))),
                Ok(_) => {}
                Err(e) => f.server_errors.push(format!("{what}: {e}")),
            }
        }));
    }
    for r in requests {
        r.await.expect("a request task");
    }
    let mut f = std::mem::take(&mut *figures.lock().await);
    f.latencies_ms.sort_by(f64::total_cmp);
    let at = |q: f64| f.latencies_ms[((f.latencies_ms.len() - 1) as f64 * q) as usize];
    println!(
        "load: {} requests, {} failed, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        f.sent,
        f.server_errors.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    faults.injected += 1;
    f.server_errors.truncate(20);
    faults.check(f.server_errors.is_empty(), || format!("the load got errors: {:?}", f.server_errors));

    // Every task, the thousand and the load's own, completes once with its own line.
    let mut all: Vec<(String, String)> =
        batch.iter().enumerate().map(|(i, id)| (id.clone(), format!("batch-{i}\n"))).collect();
    all.append(&mut f.submitted);
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    for (id, want) in &all {
        let view = loop {
            match task(&base, id).await {
                Some(t) if t.status.is_final() => break Some(t),
                _ if std::time::Instant::now() > deadline => break None,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let log = stdout(&base, id).await;
        faults.check(view.as_ref().is_some_and(|t| t.status == TaskStatus::Completed) && &log == want, || {
            format!("task {id}: {:?}, log {log:?}", view.map(|t| (t.status, t.error_message)))
        });
    }
    println!("drain: {} tasks ended {:.0} s after the batch was queued", all.len(), queued.elapsed().as_secs_f64());
    let node = hakuriver_itest::nodes(&base).await.unwrap_or_default();
    faults.check(node.iter().all(|n| n.status == NodeStatus::Online), || "the node went offline under load".into());
    faults.report();
}

/// One terminal's session: opens the task's terminal, then types five sums and times each answer.
async fn terminal_session(url: String, n: u32) -> Result<Vec<f64>, String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| format!("terminal {n}: {e}"))?;
    let mut seen = String::new();
    let mut round_trips = Vec::new();
    for k in 0..5u32 {
        // The shell echoes what is typed; the sum's value appears only in its answer.
        let want = (n * 1000 + 100 + k).to_string();
        let line = json!({"type": "input", "data": format!("echo $(({n}*1000+100+{k}))\n")}).to_string();
        let started = std::time::Instant::now();
        ws.send(Message::text(line)).await.map_err(|e| format!("terminal {n}: {e}"))?;
        while !seen.contains(&want) {
            match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).map_err(|e| format!("terminal {n}: {e}"))?;
                    seen.push_str(v["data"].as_str().unwrap_or_default());
                }
                Ok(Some(Ok(_))) => {}
                other => return Err(format!("terminal {n}: no answer to round {k}: {other:?}")),
            }
        }
        round_trips.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ws.close(None).await.ok();
    Ok(round_trips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_terminals_at_once_stay_responsive() {
    let (dir, _host, _runner) = cluster("fault-terms");
    let base = dir.base_url();
    wait_for_node(&base, "fault-terms", NodeStatus::Online, START).await;
    let mut faults = Faults::default();
    let id = submit(
        &base,
        json!({"command": "sleep", "arguments": ["600"], "targets": ["fault-terms"], "container_name": BUSYBOX_ENV}),
    )
    .await;
    wait_status(&base, &id, TaskStatus::Running).await;
    let url = format!("{}/api/tasks/{id}/terminal", base.replace("http://", "ws://"));
    // All fifty open at once, each relayed through the runner into its own shell.
    let sessions = futures::future::join_all((0..50).map(|n| terminal_session(url.clone(), n))).await;
    let mut all = Vec::new();
    for session in sessions {
        let ok = session.as_ref().is_ok_and(|times| times.len() == 5);
        faults.check(ok, || format!("{:?}", session.as_ref().err()));
        all.extend(session.unwrap_or_default());
    }
    all.sort_by(f64::total_cmp);
    if let Some(max) = all.last() {
        println!(
            "terminals: 50 at once, {} round trips (the first of each includes its shell's start), \
             p50 {:.1} ms, p99 {:.1} ms, max {max:.1} ms",
            all.len(),
            all[all.len() / 2],
            all[(all.len() - 1) * 99 / 100]
        );
    }
    let r = reqwest::Client::new().post(format!("{base}/kill/{id}")).send().await.expect("kill");
    assert_eq!(r.status(), 202);
    faults.report();
}
