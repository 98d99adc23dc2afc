//! `hakuriver forward ID [LOCAL:]REMOTE`: check that the task runs, listen locally, say where,
//! and relay every connection (`crate::forward`) until Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use hakuriver_model::{TaskStatus, TaskView};
use serde::Serialize;

use crate::client::seg;
use crate::context::Ctx;
use crate::exit::{Failure, INTERRUPTED};

pub struct ForwardArgs {
    pub task_id: String,
    pub ports: String,
    pub address: String,
}

#[derive(Serialize)]
struct Listening<'a> {
    task_id: &'a str,
    local_address: String,
    remote_port: u16,
}

pub async fn run(ctx: &Ctx, a: ForwardArgs) -> Result<ExitCode, Failure> {
    let (local, remote) = crate::forward::parse_ports(&a.ports).map_err(Failure::usage)?;
    let client = ctx.client()?;
    let task: TaskView = client.get(&format!("/api/status/{}", seg(&a.task_id))).await?;
    if task.status != TaskStatus::Running {
        return Err(Failure::failed(format!("task {} is not running (status: {})", a.task_id, task.status)));
    }
    let listener = tokio::net::TcpListener::bind((a.address.as_str(), local))
        .await
        .map_err(|e| Failure::failed(format!("cannot listen on {}:{local}: {e}", a.address)))?;
    let bound = listener.local_addr().map_err(Failure::failed)?;
    let listening = Listening { task_id: &a.task_id, local_address: bound.to_string(), remote_port: remote };
    ctx.out.print(
        &listening,
        || vec![bound.to_string()],
        || format!("Forwarding {bound} to port {remote} of task {} (Ctrl-C to stop)\n", a.task_id),
    )?;
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::select! {
        served = crate::forward::serve(listener, Arc::new(client), a.task_id.clone(), remote) => {
            served.map_err(Failure::failed)?;
            Ok(ExitCode::SUCCESS)
        }
        _ = tokio::signal::ctrl_c() => Err(Failure::new(INTERRUPTED, "stopped forwarding")),
    }
}
