//! `hakuriver docker ...`: the host's environment containers and the tarballs runners load.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use hakuriver_model::api::Message;
use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, ImportRequest, TarballList};
use hakuriver_model::operation::{Operation, OperationStarted, OperationState};

use crate::client::{seg, Client, ClientError};
use crate::context::Ctx;
use crate::exit::Failure;
use crate::output::{progress, Output, Tone};
use crate::table::{self, Cell};

#[derive(Subcommand)]
pub enum DockerCommand {
    /// Environment containers on the host: where an environment is prepared by hand.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Environment tarballs in shared storage: what runners load to run tasks.
    #[command(subcommand)]
    Tar(TarCommand),
}

#[derive(Subcommand)]
pub enum ContainerCommand {
    /// List the host's environment containers.
    #[command(after_help = "Example:\n  hakuriver docker container list")]
    List,
    /// Create (and start) an environment container from an image the host's Docker has.
    #[command(after_help = "Example:\n  hakuriver docker container create python:3.12-slim my-env")]
    Create { image: String, name: String },
    /// Start an environment container.
    #[command(after_help = "Example:\n  hakuriver docker container start my-env")]
    Start { name: String },
    /// Stop an environment container.
    #[command(after_help = "Example:\n  hakuriver docker container stop my-env")]
    Stop { name: String },
    /// Delete an environment container (a running one needs --force).
    #[command(after_help = "Example:\n  hakuriver docker container delete my-env --force")]
    Delete {
        name: String,
        /// Delete it even while it runs.
        #[arg(long)]
        force: bool,
    },
    /// Open a shell in an environment container (this terminal, raw; `exit` to leave).
    #[command(after_help = "Example:\n  hakuriver docker container shell my-env")]
    Shell { name: String },
}

#[derive(Subcommand)]
pub enum TarCommand {
    /// List environment tarballs in shared storage.
    #[command(after_help = "Example:\n  hakuriver docker tar list")]
    List,
    /// Commit an environment container and save it as a new tarball for the runners.
    #[command(after_help = "Example:\n  hakuriver docker tar create my-env")]
    Create { name: String },
    /// Make an environment tarball from a tar file on the host (a root file system or a saved image),
    /// inside paths.shared_dir.
    #[command(after_help = "Example:\n  hakuriver docker tar import /mnt/shared/images/debian-rootfs.tar debian")]
    Import { tar: PathBuf, name: String },
    /// Which runner has which version of each environment.
    #[command(after_help = "Example:\n  hakuriver docker tar versions")]
    Versions,
}

pub async fn run(ctx: &Ctx, command: DockerCommand) -> Result<(), Failure> {
    let client = ctx.client()?;
    match command {
        DockerCommand::Container(c) => container(ctx, &client, c).await,
        DockerCommand::Tar(t) => tar(ctx, &client, t).await,
    }
}

async fn container(ctx: &Ctx, client: &Client, command: ContainerCommand) -> Result<(), Failure> {
    let (message, name): (Message, String) = match command {
        ContainerCommand::List => {
            let list: Vec<EnvContainer> = client.get("/api/docker/host/containers").await?;
            let ids = || list.iter().map(|c| c.name.clone()).collect();
            ctx.out.print(&list, ids, || render_containers(&ctx.out, &list))?;
            return Ok(());
        }
        ContainerCommand::Shell { name } => {
            return crate::shell::run(client, &name).await.map_err(|m| Failure::new(crate::exit::REJECTED, m));
        }
        ContainerCommand::Create { image, name } => {
            // In the background: a pull shows its progress, then how it ended.
            let body = CreateEnvRequest { image_name: image, container_name: name.clone() };
            let answer: OperationStarted = client.post("/api/docker/host/create?background=true", &body).await?;
            let op = follow_operation(client, answer.operation_id).await?;
            if op.state != OperationState::Succeeded {
                return Err(Failure::new(crate::exit::REJECTED, op.error.unwrap_or_else(|| format!("{:?}", op.state))));
            }
            (Message::new(answer.message), name)
        }
        ContainerCommand::Start { name } => {
            (client.post(&format!("/api/docker/host/start/{}", seg(&name)), &()).await?, name)
        }
        ContainerCommand::Stop { name } => {
            (client.post(&format!("/api/docker/host/stop/{}", seg(&name)), &()).await?, name)
        }
        ContainerCommand::Delete { name, force } => {
            (client.post(&format!("/api/docker/host/delete/{}?force={force}", seg(&name)), &()).await?, name)
        }
    };
    ctx.out.print(&message, || vec![name.clone()], || format!("{}\n", message.message))?;
    Ok(())
}

async fn tar(ctx: &Ctx, client: &Client, command: TarCommand) -> Result<(), Failure> {
    match command {
        TarCommand::List => {
            let tars: TarballList = client.get("/api/docker/list").await?;
            let ids = || tars.keys().cloned().collect();
            ctx.out.print(&tars, ids, || render_tars(&ctx.out, &tars))?;
            Ok(())
        }
        TarCommand::Versions => {
            let versions: BTreeMap<String, EnvVersions> = client.get("/api/docker/versions").await?;
            let ids = || versions.keys().cloned().collect();
            ctx.out.print(&versions, ids, || render_versions(&ctx.out, &versions))?;
            Ok(())
        }
        TarCommand::Create { name } => {
            let answer: OperationStarted =
                client.post(&format!("/api/docker/create_tar/{}?background=true", seg(&name)), &()).await?;
            finish_operation(ctx, client, &answer).await
        }
        TarCommand::Import { tar, name } => {
            let path = std::path::absolute(&tar).map_err(|e| Failure::usage(format!("{}: {e}", tar.display())))?;
            let body = ImportRequest { path, name, background: true };
            let answer: OperationStarted = client.post("/api/docker/import", &body).await?;
            finish_operation(ctx, client, &answer).await
        }
    }
}

/// Follows the operation an answer started (a progress bar on a terminal) and prints how it
/// ended: the operation (`--json`), the tarball's path (`-q`), or a line for people.
pub async fn finish_operation(ctx: &Ctx, client: &Client, answer: &OperationStarted) -> Result<(), Failure> {
    let op = follow_operation(client, answer.operation_id).await?;
    let path = op.result.as_ref().and_then(|r| r["tarball_path"].as_str()).unwrap_or_default().to_string();
    ctx.out.print(&op, || vec![path.clone()], || format!("saved {path}\n"))?;
    match op.state {
        OperationState::Succeeded => Ok(()),
        state => Err(Failure::failed(format!("{} {state:?}: {}", op.kind, op.error.unwrap_or_default()))),
    }
}

/// Polls a host operation to its end, showing its phase and bytes.
async fn follow_operation(client: &Client, id: u64) -> Result<Operation, ClientError> {
    let bar = progress(Some(0), "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})");
    loop {
        let op: Operation = client.get(&format!("/api/operations/{id}")).await?;
        bar.set_message(op.phase.clone());
        if let Some(total) = op.total_bytes {
            bar.set_length(total.max(op.bytes));
        }
        bar.set_position(op.bytes);
        if op.state != OperationState::Running {
            bar.finish_and_clear();
            return Ok(op);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub fn render_containers(out: &Output, list: &[EnvContainer]) -> String {
    if list.is_empty() {
        return "No environment containers. Create one: hakuriver docker container create IMAGE NAME\n".into();
    }
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|c| {
            let tone = if c.status == "running" { Tone::Good } else { Tone::Dim };
            vec![c.name.clone().into(), c.image.clone().into(), Cell::new(c.status.clone(), tone), c.id.clone().into()]
        })
        .collect();
    table::render(out, &["NAME", "IMAGE", "STATUS", "ID"], &rows)
}

pub fn render_tars(out: &Output, tars: &TarballList) -> String {
    if tars.is_empty() {
        return "No environment tarballs. Make one: hakuriver docker tar create NAME\n".into();
    }
    let rows: Vec<Vec<Cell>> = tars
        .iter()
        .map(|(env, t)| {
            vec![
                env.clone().into(),
                t.latest_tarball.clone().into(),
                t.latest_timestamp.to_string().into(),
                t.all_versions.len().to_string().into(),
            ]
        })
        .collect();
    table::render(out, &["ENV", "LATEST TARBALL", "TIMESTAMP", "VERSIONS"], &rows)
}

pub fn render_versions(out: &Output, versions: &BTreeMap<String, EnvVersions>) -> String {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for (env, v) in versions {
        if v.nodes.is_empty() && v.loading.is_empty() {
            rows.push(vec![env.clone().into(), "-".into(), "-".into(), Cell::new("no runner has it yet", Tone::Dim)]);
        }
        for (node, p) in &v.loading {
            let done = match p.total_bytes {
                Some(total) if total > 0 => format!("loading {:.0} %", p.bytes as f64 / total as f64 * 100.0),
                _ => format!("loading {} bytes", p.bytes),
            };
            rows.push(vec![env.clone().into(), node.clone().into(), "-".into(), Cell::new(done, Tone::Warn)]);
        }
        for (node, n) in &v.nodes {
            let state = if n.current {
                Cell::new("current", Tone::Good)
            } else {
                Cell::new("older (loads on next task)", Tone::Warn)
            };
            rows.push(vec![env.clone().into(), node.clone().into(), n.image_created.to_string().into(), state]);
        }
    }
    table::render(out, &["ENV", "NODE", "IMAGE CREATED", "STATE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;
    use hakuriver_model::env::NodeEnvVersion;

    #[test]
    fn version_rows_say_what_is_current() {
        let out = Output { mode: Mode::Human, color: false };
        let mut nodes = BTreeMap::new();
        nodes.insert("n1".to_string(), NodeEnvVersion { image_created: 5, current: false });
        let versions = BTreeMap::from([(
            "base".to_string(),
            EnvVersions { latest_timestamp: Some(9), nodes, loading: BTreeMap::new() },
        )]);
        let text = render_versions(&out, &versions);
        assert!(text.lines().nth(1).unwrap().contains("older"), "{text}");
        assert!(render_tars(&out, &TarballList::new()).contains("docker tar create"));
    }
}
