// suite: integration
//! Usage accounting through real host and runner processes, with tasks without a container:
//! each task's usage measured from its cgroup (a busy task against an idle one, processes that
//! left its session counted too), `GET /api/usage` by user and by node, and `hakuriver usage`.

use std::time::Duration;

use hakuriver_itest::golden::assert_golden;
use hakuriver_itest::{create_token, wait_for, ClusterDir, ADMIN_TOKEN};
use hakuriver_model::usage::UsageReport;
use hakuriver_model::{TaskStatus, TaskView};
use serde_json::{json, Value};

const NODE: &str = "usage-node";

/// Busy for two to three seconds in this shell and in one that left its session, holding 20 MB in a
/// variable meanwhile.
const BUSY: &str = "x=$(head -c 20000000 /dev/zero | tr '\\0' a); \
    end=$(($(date +%s)+3)); setsid sh -c \"while [ \\$(date +%s) -lt $end ]; do :; done\" & \
    while [ $(date +%s) -lt $end ]; do :; done; wait; echo ${#x}";

async fn ended(http: &reqwest::Client, base: &str, id: &str) -> TaskView {
    wait_for("the task to end", Duration::from_secs(60), || async {
        let r = http.get(format!("{base}/api/status/{id}")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        r.json::<TaskView>().await.ok().filter(|t| t.status.is_final())
    })
    .await
}

#[tokio::test]
async fn a_busy_tasks_usage_is_recorded_and_reported_per_user_and_node() {
    let cluster = ClusterDir::with_auth();
    cluster.append_config("[policy]\nnative_role = \"user\"\n");
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner(NODE);
    let http = reqwest::Client::new();
    wait_for("the node", Duration::from_secs(20), || async {
        let r = http.get(format!("{base}/api/nodes/{NODE}")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        r.json::<Value>().await.ok().filter(|n| n["status"] == "online")
    })
    .await;
    let (_, alice) = create_token(&base, "alice", "user").await;
    let (_, bob) = create_token(&base, "bob", "user").await;
    let submit = |token: String, script: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = json!({"command": "sh", "arguments": ["-c", script], "container_name": "NULL",
                              "targets": [NODE], "required_cores": 1});
            let r = http.post(format!("{base}/api/submit")).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status();
            let answer: Value = r.json().await.unwrap();
            assert_eq!(status, 202, "{answer}");
            answer["task_ids"][0].as_str().unwrap().to_string()
        }
    };
    let busy = submit(alice, BUSY).await;
    let idle = submit(bob, "sleep 2").await;
    let busy = ended(&http, &base, &busy).await;
    let idle = ended(&http, &base, &idle).await;
    assert_eq!((busy.status, idle.status), (TaskStatus::Completed, TaskStatus::Completed), "{busy:?} {idle:?}");

    let (b, i) = (busy.usage.expect("the busy task's usage"), idle.usage.expect("the idle task's usage"));
    assert!(b.wall_seconds >= 2.0 && i.wall_seconds >= 2.0, "{b:?} {i:?}");
    let busy_cpu = b.cpu_seconds.expect("CPU time measured");
    // Two loops over two seconds or more (the one in its own session counted too), on a shared
    // machine.
    assert!(busy_cpu >= 1.0 && busy_cpu <= 2.0 * b.wall_seconds + 1.0, "{b:?}");
    assert!(i.cpu_seconds.expect("CPU time measured") < 0.5, "{i:?}");
    assert!(b.max_memory_bytes.expect("peak memory measured") >= 20_000_000, "{b:?}");
    assert!(i.max_memory_bytes.unwrap_or(0) < 20_000_000, "{i:?}");
    assert_eq!(b.gpu_seconds, 0.0);

    // The report: per user, per node, and the CLI's.
    let report = |query: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http.get(format!("{base}/api/usage?{query}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, by_user) = report("since=1h&by=user").await;
    assert_eq!(status, 200, "{by_user}");
    let by_user: UsageReport = serde_json::from_value(by_user).unwrap();
    let row = |name: &str| by_user.rows.iter().find(|r| r.name == name).cloned().expect(name);
    let (a, bo) = (row("alice"), row("bob"));
    assert_eq!((a.tasks, bo.tasks, by_user.total.tasks), (1, 1, 2));
    assert!(a.cpu_hours > bo.cpu_hours && a.core_hours > 0.0, "{by_user:?}");
    let (_, by_node) = report("by=node").await;
    let by_node: UsageReport = serde_json::from_value(by_node).unwrap();
    assert_eq!(by_node.rows.iter().map(|r| (r.name.as_str(), r.tasks)).collect::<Vec<_>>(), vec![(NODE, 2)]);
    for bad in ["since=yesterday", "by=team", "since=2999-01-01"] {
        let (status, answer) = report(bad).await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{answer}");
    }

    let out = cluster.cli(&["--json", "usage", "--since", "2h", "--by", "node"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_golden("usage", &out.stdout);
    let cli: UsageReport = serde_json::from_slice(&out.stdout).expect("the CLI prints the report");
    assert_eq!(cli.total.tasks, 2);
    let out = cluster.cli(&["usage", "--by", "team"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = cluster.cli(&["task", "status", &busy.task_id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.contains("usage:") && l.contains("CPU") && l.contains("peak memory")), "{text}");
    let out = cluster.cli(&["usage"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("alice") && text.contains("CORE TIME"), "{text}");
}
