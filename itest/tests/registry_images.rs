// suite: docker
//! Tasks and VPS that name a registry image (`image` on submit, `--image` on the CLI), against a
//! real `docker-registry` behind a login on a free loopback port: the runner pulls each image
//! once (Docker's own `pull` events counted), with its configured login and its progress shown
//! with the task; who may name an image is policy.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use hakuriver_itest::images::{docker_ok, ensure_busybox, ensure_sshd, SSHD_IMAGE};
use hakuriver_itest::registry::{Registry, PASSWORD, USER};
use hakuriver_itest::{create_token, wait_for, wait_for_final, wait_for_node, ClusterDir, ADMIN_TOKEN};
use hakuriver_model::events::ClusterEvent;
use hakuriver_model::{NodeStatus, TaskStatus};
use serde_json::{json, Value};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A busybox image with an 8 MB layer (big enough for the engine to report its download),
/// pushed to `registry` as each of `repos`; answers their references.
fn push_tools<const N: usize>(registry: &mut Registry, cluster: &ClusterDir, repos: [&str; N]) -> [String; N] {
    ensure_busybox();
    let blob: String =
        (0..1_000_000u64).map(|i| format!("{:08x}", i.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32)).collect();
    let tar = hakuriver_itest::images::busybox_rootfs_tar(&cluster.shared(), &[("/data/blob.txt", &blob)]);
    let local = format!("hakuriver-itest/registry-tools:{}", cluster.host_port);
    docker_ok(&["import", tar.to_str().unwrap(), &local]);
    let references = repos.map(|repo| registry.push(&local, repo));
    docker_ok(&["rmi", &local]);
    references
}

/// Docker's `pull` events for `reference` since `since` (unix seconds).
fn pulls(reference: &str, since: u64) -> usize {
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 1;
    let out = Command::new("docker")
        .args(["events", "--since", &since.to_string(), "--until", &until.to_string()])
        .args(["--filter", "type=image", "--filter", "event=pull", "--format", "{{.Actor.ID}}"])
        .output()
        .expect("docker events");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.trim() == reference).count()
}

fn login_config(registry: &Registry) -> String {
    format!("[registries.\"{}\"]\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n", registry.address)
}

#[tokio::test]
async fn tasks_and_a_vps_run_in_registry_images_pulled_once_per_node() {
    let mut registry = Registry::with_login();
    let cluster = ClusterDir::new();
    let [tools] = push_tools(&mut registry, &cluster, ["lab/tools:1"]);
    ensure_sshd();
    let sshd = registry.push(SSHD_IMAGE, "lab/sshd:1");
    cluster.append_config(&login_config(&registry));
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let runner = cluster.start_runner("reg1");
    wait_for_node(&base, "reg1", NodeStatus::Online, Duration::from_secs(60)).await;

    // Watch the live events for the pull's progress while three tasks ask for the same image.
    let url = format!("{}/api/events", base.replace("http://", "ws://"));
    let (mut events, _) = tokio_tungstenite::connect_async(url).await.expect("events websocket");
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut ids = Vec::new();
    for i in 0..3 {
        let out = cluster.cli(&[
            "task",
            "submit",
            "-t",
            "reg1",
            "--cores",
            "0",
            "--image",
            &tools,
            "-q",
            "--",
            "head",
            "-c",
            "8",
            "/data/blob.txt",
        ]);
        assert!(out.status.success(), "task {i}: {}", text(&out));
        ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let mut progress = Vec::new();
    let watched = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(Ok(message)) = events.next().await {
            let Ok(text) = message.into_text() else { continue };
            if let Ok(ClusterEvent::TaskUpdated { task }) = serde_json::from_str::<ClusterEvent>(&text) {
                if let Some(p) = &task.progress {
                    progress.push(p.clone());
                }
                if task.status == TaskStatus::Running || task.status.is_final() {
                    return;
                }
            }
        }
    });
    watched.await.expect("a task started");
    assert!(progress.iter().any(|p| p.starts_with(&format!("pulling {tools}"))), "{progress:?}");
    for id in &ids {
        let done = wait_for_final(&base, id, Duration::from_secs(60)).await;
        assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
        assert_eq!(done.image.as_deref(), Some(tools.as_str()));
        assert_eq!(done.progress, None, "no progress once it ran");
        let out = cluster.cli(&["task", "logs", id]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).len(), 8, "{}", text(&out));
    }
    assert_eq!(pulls(&tools, since), 1, "three tasks, one pull on the node");

    // A VPS from a registry image with sshd.
    let key = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .unwrap()
            .success());
        std::fs::read_to_string(path.with_extension("pub")).unwrap()
    };
    let out = cluster.cli(&["vps", "submit", "-t", "reg1", "--image", &sshd, "--public-key-string", key.trim(), "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    let vps = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let running = wait_for("the VPS to run", Duration::from_secs(120), || async {
        let t: hakuriver_model::TaskView =
            reqwest::get(format!("{base}/api/status/{vps}")).await.ok()?.json().await.ok()?;
        assert!(!t.status.is_final(), "{t:?}");
        (t.status == TaskStatus::Running).then_some(t)
    })
    .await;
    assert_eq!(running.container_name.as_deref(), Some(sshd.as_str()));
    assert!(cluster.cli(&["vps", "kill", &vps]).status.success());

    // A reference the registry does not have: the task fails with the reason.
    let missing = format!("{}/lab/none:1", registry.address);
    let out = cluster.cli(&["task", "submit", "-t", "reg1", "--cores", "0", "--image", &missing, "-q", "--", "true"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let done = wait_for_final(&base, &id, Duration::from_secs(60)).await;
    assert_eq!(done.status, TaskStatus::Failed);
    let message = done.error_message.unwrap_or_default();
    assert!(message.contains("cannot pull") && message.contains("[registries]"), "{message}");
    // Bad input is refused at submit.
    let out = cluster.cli(&["task", "submit", "--image", "-bad", "--", "true"]);
    assert!(!out.status.success());
    let out = cluster.cli(&["task", "submit", "--image", &tools, "--container", "x", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!runner.log().contains(PASSWORD), "the registry password was logged");
}

#[tokio::test]
async fn a_runner_without_the_login_cannot_pull_and_says_so() {
    let mut registry = Registry::with_login();
    let cluster = ClusterDir::new();
    let [tools] = push_tools(&mut registry, &cluster, ["lab/private:1"]);
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("reg2");
    wait_for_node(&base, "reg2", NodeStatus::Online, Duration::from_secs(60)).await;
    let out = cluster.cli(&["task", "submit", "-t", "reg2", "--cores", "0", "--image", &tools, "-q", "--", "true"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let done = wait_for_final(&base, &id, Duration::from_secs(60)).await;
    assert_eq!(done.status, TaskStatus::Failed);
    let message = done.error_message.unwrap_or_default();
    assert!(message.contains("no basic auth credentials") && message.contains("[registries]"), "{message}");
}

#[tokio::test]
async fn who_may_name_an_image_is_policy() {
    let mut registry = Registry::open();
    let cluster = ClusterDir::with_auth();
    let [tools, other] = push_tools(&mut registry, &cluster, ["approved/tools:1", "other/tools:1"]);
    cluster.append_config(&format!("[policy]\nuser_images = [\"{}/approved/\"]\n", registry.address));
    let base = cluster.base_url();
    let _host = cluster.start_host();
    let _runner = cluster.start_runner("reg3");
    let http = reqwest::Client::new();
    wait_for("reg3 online", Duration::from_secs(30), || async {
        let node: Value =
            http.get(format!("{base}/api/nodes/reg3")).bearer_auth(ADMIN_TOKEN).send().await.ok()?.json().await.ok()?;
        (node["status"] == "online").then_some(())
    })
    .await;
    let mut tokens = vec![("admin".to_string(), ADMIN_TOKEN.to_string())];
    for role in ["viewer", "user", "operator"] {
        tokens.push((role.to_string(), create_token(&base, &format!("img-{role}"), role).await.1));
    }
    for (role, token) in &tokens {
        for (image, allowed) in [(&tools, *role != "viewer"), (&other, matches!(role.as_str(), "operator" | "admin"))] {
            let body = json!({"command": "true", "image": image, "targets": ["reg3"], "required_cores": 0});
            let answer = http.post(format!("{base}/api/submit")).bearer_auth(token).json(&body).send().await.unwrap();
            let status = answer.status().as_u16();
            let answer: Value = answer.json().await.unwrap_or(Value::Null);
            if allowed {
                assert_eq!(status, 202, "{role} {image}: {answer}");
                let id = answer["task_ids"][0].as_str().unwrap().to_string();
                // Through the real runner: the image is pulled and the task runs.
                let done = wait_for("the task to end", Duration::from_secs(60), || async {
                    let t: hakuriver_model::TaskView = http
                        .get(format!("{base}/api/status/{id}"))
                        .bearer_auth(ADMIN_TOKEN)
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()?;
                    t.status.is_final().then_some(t)
                })
                .await;
                assert_eq!(done.status, TaskStatus::Completed, "{role} {image}: {done:?}");
            } else {
                assert_eq!(status, 403, "{role} {image}: {answer}");
                if *role != "viewer" {
                    let detail = answer["detail"].as_str().unwrap_or_default();
                    assert!(detail.contains("image_role") && detail.contains("user_images"), "{detail}");
                }
            }
        }
    }
}
