//! Waiting for tasks to end: a progress bar on a terminal, a line per task as it ends, and
//! Ctrl-C stops the waiting (never the tasks).

use std::time::{Duration, Instant};

use hakuriver_model::TaskView;

use super::render::render_ended;
use crate::client::{seg, Client, ClientError};
use crate::context::Ctx;
use crate::exit::{Failure, INTERRUPTED, UNREACHABLE};
use crate::output::progress;

/// How often waiting looks again.
pub const POLL: Duration = Duration::from_millis(500);
/// How long the host may be away (restarting, say) before waiting gives up.
const HOST_GONE_LIMIT: Duration = Duration::from_secs(120);

/// Waits until every task in `ids` has ended; returns them as they ended, in the order given.
pub async fn wait_all(ctx: &Ctx, client: &Client, ids: &[String]) -> Result<Vec<TaskView>, Failure> {
    let bar = progress(Some(ids.len() as u64), "{spinner} waiting: {pos}/{len} ended {msg}");
    let result = tokio::select! {
        r = poll_until_ended(ctx, client, ids, &bar) => r,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(
            INTERRUPTED,
            format!("stopped waiting; the tasks keep running. Wait again with: hakuriver task wait {}", ids.join(" ")),
        )),
    };
    bar.finish_and_clear();
    result
}

async fn poll_until_ended(
    ctx: &Ctx,
    client: &Client,
    ids: &[String],
    bar: &indicatif::ProgressBar,
) -> Result<Vec<TaskView>, Failure> {
    let mut ended: Vec<Option<TaskView>> = vec![None; ids.len()];
    let mut not_completed = 0;
    let mut host_gone_since: Option<Instant> = None;
    loop {
        for (i, id) in ids.iter().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            let view: TaskView = match client.get(&format!("/api/status/{}", seg(id))).await {
                Ok(v) => v,
                Err(ClientError::Unreachable { url, reason }) => {
                    let since = *host_gone_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > HOST_GONE_LIMIT {
                        return Err(Failure::new(
                            UNREACHABLE,
                            format!("lost the host at {url} while waiting: {reason}"),
                        ));
                    }
                    bar.set_message(format!("(host unreachable: {reason}; retrying)"));
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            host_gone_since = None;
            if view.status.is_final() {
                if view.status != hakuriver_model::TaskStatus::Completed {
                    not_completed += 1;
                }
                if ctx.out.is_human() {
                    bar.suspend(|| print!("{}", render_ended(&ctx.out, &view)));
                }
                bar.inc(1);
                bar.set_message(if not_completed > 0 {
                    format!("({not_completed} did not complete)")
                } else {
                    String::new()
                });
                ended[i] = Some(view);
            }
        }
        if ended.iter().all(Option::is_some) {
            return Ok(ended.into_iter().flatten().collect());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Exit status after waiting: a failure (1) unless every task completed.
pub fn outcome(tasks: &[TaskView]) -> Result<(), Failure> {
    let bad = tasks.iter().filter(|t| t.status != hakuriver_model::TaskStatus::Completed).count();
    if bad == 0 {
        Ok(())
    } else {
        Err(Failure::failed(format!("{bad} of {} tasks did not complete", tasks.len())))
    }
}
