//! `hakuriver ssh ID`: log in to a VPS with the system ssh through the host's SSH proxy, or
//! print the stock `ssh -J` way in.

use std::process::ExitCode;

use crate::context::Ctx;
use crate::exit::Failure;

pub struct SshArgs {
    pub task_id: String,
    pub print: bool,
    pub user: String,
    pub proxy_host: Option<String>,
    pub proxy_port: Option<u16>,
    pub local_port: u16,
    pub ssh_args: Vec<String>,
}

pub async fn run(ctx: &Ctx, a: SshArgs) -> Result<ExitCode, Failure> {
    let (host, port) = proxy_address(ctx, a.proxy_host, a.proxy_port)?;
    if a.print {
        print!("{}", super::vps::print_ssh(&a.task_id, &host, port, &a.user));
        return Ok(ExitCode::SUCCESS);
    }
    let t = crate::tunnel::Tunnel {
        task_id: a.task_id,
        proxy_host: host,
        proxy_port: port,
        local_port: a.local_port,
        user: a.user,
        ssh_args: a.ssh_args,
        tickets: match ctx.token(&ctx.config()?.config) {
            Some(_) => Some(std::sync::Arc::new(ctx.client()?)),
            None => None,
        },
    };
    crate::tunnel::run(t).await.map_err(Failure::failed)
}

/// The host's SSH proxy: `--proxy-host`/`--proxy-port`, else the host of `--host` (or of the
/// configuration) and `network.host_ssh_proxy_port`.
fn proxy_address(ctx: &Ctx, proxy_host: Option<String>, proxy_port: Option<u16>) -> Result<(String, u16), Failure> {
    let loaded = ctx.config()?;
    let port = proxy_port.unwrap_or(loaded.config.network.host_ssh_proxy_port);
    let host = match (proxy_host, &ctx.host) {
        (Some(h), _) => h,
        (None, Some(url)) => reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()))
            .ok_or_else(|| Failure::usage(format!("--host {url:?} is not a URL")))?,
        (None, None) => loaded.config.network.host_reachable_address.clone(),
    };
    Ok((host, port))
}
