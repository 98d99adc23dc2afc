// suite: docker
//! The resource policy through the real host, runner and Docker engine: for every role, what it
//! may ask of a runner (a privileged container, host mounts inside and outside the allowlist, a
//! task without a container and the user it runs as, environment variables) is exactly what
//! `[policy]` names. A refusal is a 403 naming the rule and the key, and nothing is started.

use std::time::Duration;

use hakuriver_itest::images::{ensure_busybox, BUSYBOX_ENV};
use hakuriver_itest::{wait_for, ClusterDir, Proc, ADMIN_TOKEN};
use hakuriver_model::{TaskStatus, TaskView};
use serde_json::{json, Value};

const ROLES: [&str; 4] = ["viewer", "user", "operator", "admin"];
const NODE: &str = "policy-node";
/// Set in the runner's environment: a task must never see it.
const RUNNER_SECRET: &str = "HAKURIVER_ITEST_RUNNER_ONLY";

struct Cluster {
    _procs: Vec<Proc>,
    dir: ClusterDir,
    base: String,
    http: reqwest::Client,
    /// One token per role, in `ROLES` order.
    tokens: Vec<String>,
}

impl Cluster {
    async fn start() -> Cluster {
        ensure_busybox();
        let dir = ClusterDir::with_auth();
        let allowed = dir.path().join("allowed");
        let outside = dir.path().join("outside");
        for (folder, text) in [(&allowed, "dataset\n"), (&outside, "not for users\n")] {
            std::fs::create_dir_all(folder).unwrap();
            std::fs::write(folder.join("file"), text).unwrap();
        }
        dir.append_config(&format!(
            "[policy]\nnative_role = \"operator\"\nnative_root_role = \"admin\"\nprivileged_role = \"admin\"\n\
             any_mount_role = \"admin\"\nuser_mounts = [\"{}:ro\"]\n",
            allowed.display()
        ));
        let host = dir.start_host();
        let mut runner = dir.command("hakuriver-runner");
        runner
            .env("HAKURIVER_RUNNER_HOSTNAME", NODE)
            .env("HAKURIVER_NETWORK_RUNNER_PORT", hakuriver_itest::free_port().to_string())
            .env(RUNNER_SECRET, "leaked");
        let runner = Proc::spawn("runner", runner, dir.path().join("runner.log"));
        let base = dir.base_url();
        let http = reqwest::Client::new();
        wait_for("the node", Duration::from_secs(60), || async {
            let r = http.get(format!("{base}/api/nodes")).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
            let nodes: Vec<Value> = r.json().await.ok()?;
            nodes.iter().any(|n| n["hostname"] == NODE && n["status"] == "online").then_some(())
        })
        .await;
        let mut tokens = Vec::new();
        for role in ROLES {
            tokens.push(hakuriver_itest::create_token(&base, &format!("{role}-p"), role).await.1);
        }
        Cluster { _procs: vec![host, runner], dir, base, http, tokens }
    }

    fn token(&self, role: &str) -> &str {
        &self.tokens[ROLES.iter().position(|r| *r == role).expect("a role")]
    }

    async fn submit(&self, role: &str, body: Value) -> (u16, Value) {
        let r =
            self.http.post(format!("{}/api/submit", self.base)).bearer_auth(self.token(role)).json(&body).send().await;
        let r = r.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn task_count(&self) -> usize {
        let r = self.http.get(format!("{}/api/tasks", self.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        r.json::<Vec<Value>>().await.unwrap().len()
    }

    /// Runs `body` as `role` to its end: its final view and stdout.
    async fn run(&self, role: &str, body: Value) -> (TaskView, String) {
        let (status, answer) = self.submit(role, body.clone()).await;
        assert_eq!(status, 202, "{role}: {body} -> {answer}");
        let id = answer["task_ids"][0].as_str().unwrap().to_string();
        let task = wait_for(&format!("task {id}"), Duration::from_secs(60), || async {
            let r = self.http.get(format!("{}/api/status/{id}", self.base)).bearer_auth(ADMIN_TOKEN).send().await;
            let t: TaskView = r.ok()?.json().await.ok()?;
            t.status.is_final().then_some(t)
        })
        .await;
        let r = self.http.get(format!("{}/api/task/{id}/stdout", self.base)).bearer_auth(ADMIN_TOKEN).send().await;
        (task, r.unwrap().text().await.unwrap())
    }
}

fn container(command: &str, extra: Value) -> Value {
    let mut body =
        json!({"command": "sh", "arguments": ["-c", command], "targets": [NODE], "container_name": BUSYBOX_ENV});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// The uid of a user in this machine's /etc/passwd.
fn uid_of(user: &str) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.lines().find_map(|l| l.strip_prefix(&format!("{user}:x:"))).unwrap().split(':').next().unwrap().to_string()
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_names() {
    assert!(rustix::process::getuid().is_root(), "the policy test runs its runner as root (it drops privileges)");
    let c = Cluster::start().await;
    let allowed = c.dir.path().join("allowed");
    let outside = c.dir.path().join("outside");
    let nobody = uid_of("nobody");
    let mut report = Vec::new();

    for role in ROLES {
        let before = c.task_count().await;
        // Refusals first: each a 403 naming the rule and its key, and nothing started.
        let refused: Vec<(&str, Value, &str)> = vec![
            ("privileged", container("true", json!({"privileged": true})), "policy.privileged_role"),
            (
                "mount outside the allowlist",
                container("cat /x/file", json!({"additional_mounts": [format!("{}:/x:ro", outside.display())]})),
                "[policy] any_mount_role",
            ),
            (
                "the host's root",
                container("true", json!({"additional_mounts": ["/:/host"]})),
                "[policy] any_mount_role",
            ),
            (
                "a read-only folder read-write",
                container("true", json!({"additional_mounts": [format!("{}:/x", allowed.display())]})),
                "[policy] any_mount_role",
            ),
            (
                "no container",
                json!({"command": "id", "container_name": "NULL", "targets": [NODE]}),
                "[policy] native_role",
            ),
        ];
        for (what, body, key) in refused {
            let may = match what {
                "privileged" | "mount outside the allowlist" | "the host's root" | "a read-only folder read-write" => {
                    role == "admin"
                }
                "no container" => role == "operator" || role == "admin",
                _ => unreachable!(),
            };
            if may {
                continue;
            }
            let (status, answer) = c.submit(role, body).await;
            assert_eq!(status, 403, "{role} asking for {what}: {answer}");
            let detail = answer["detail"].as_str().unwrap_or_default();
            if role != "viewer" {
                let rule = key.trim_start_matches("policy.").trim_start_matches("[policy] ");
                assert!(detail.contains(rule), "{role} / {what}: the detail names the key: {detail}");
            }
            report.push(format!("{role}: {what} refused"));
        }
        assert_eq!(c.task_count().await, before, "{role}: refused submits started nothing");
        if role == "viewer" {
            continue;
        }

        // A plain container with variables; a mount of the allowlist, read-only.
        let (task, out) = c
            .run(
                role,
                container(
                    &format!("echo $FOO; cat /data/file; env | grep -c {RUNNER_SECRET} || true"),
                    json!({"env_vars": {"FOO": "bar"}, "additional_mounts": [format!("{}:/data:ro", allowed.display())]}),
                ),
            )
            .await;
        assert_eq!(task.status, TaskStatus::Completed, "{role}: {task:?}");
        assert_eq!(out, "bar\ndataset\n0\n", "{role}: variables and the allowed mount");

        if role == "admin" {
            let (task, out) =
                c.run(role, container("grep CapEff /proc/self/status", json!({"privileged": true}))).await;
            assert!(task.privileged, "{task:?}");
            // The admin's request reached Docker as a privileged container: it has every
            // capability, or an engine that may not grant them (a container-in-container
            // sandbox such as this project's CI machine) refused exactly that.
            match task.status {
                TaskStatus::Completed => {
                    assert!(out.trim_end().ends_with("ffffffffff"), "every capability: {out}")
                }
                _ => {
                    let why = task.error_message.clone().unwrap_or_default();
                    assert!(why.contains("unable to apply caps"), "only the engine refused it: {task:?}");
                }
            }
            let mount = json!({"additional_mounts": [format!("{}:/x:ro", outside.display())]});
            let (task, out) = c.run(role, container("cat /x/file", mount)).await;
            assert_eq!((task.status, out.as_str()), (TaskStatus::Completed, "not for users\n"));
        }

        // Without a container: the operator's task runs as `nobody`, the admin's as the runner's
        // user; neither sees the runner's environment.
        if role == "operator" || role == "admin" {
            let body = json!({"command": "sh", "arguments": ["-c", format!("id -u; id -G; echo $FOO; env | grep -c {RUNNER_SECRET} || true")],
                "env_vars": {"FOO": "native"}, "container_name": "NULL", "targets": [NODE]});
            let (task, out) = c.run(role, body).await;
            assert_eq!(task.status, TaskStatus::Completed, "{role}: {task:?}");
            let lines: Vec<&str> = out.lines().collect();
            let (uid, groups) = if role == "operator" {
                (nobody.clone(), lines[1].to_string())
            } else {
                ("0".to_string(), lines[1].to_string())
            };
            assert_eq!(lines[0], uid, "{role}'s native task runs as {uid}: {out}");
            if role == "operator" {
                assert!(!groups.split(' ').any(|g| g == "0"), "no root group left: {groups}");
            }
            assert_eq!(&lines[2..], ["native", "0"], "{role}: its variables, none of the runner's");
        }
        report.push(format!("{role}: allowed requests ran"));
    }
    println!("policy matrix: {}", report.join("; "));
}
