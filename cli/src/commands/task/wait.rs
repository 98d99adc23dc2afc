//! Waiting for tasks to end: a progress bar on a terminal, a line per task as it ends, and
//! Ctrl-C stops the waiting (never the tasks).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hakuriver_model::task::{TaskPage, TaskQuery};
use hakuriver_model::{TaskId, TaskStatus, TaskView};

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
        let mut seen = match look_once(client, ids, &ended).await {
            Ok(seen) => seen,
            Err(ClientError::Unreachable { url, reason }) => {
                let since = *host_gone_since.get_or_insert_with(Instant::now);
                if since.elapsed() > HOST_GONE_LIMIT {
                    return Err(Failure::new(UNREACHABLE, format!("lost the host at {url} while waiting: {reason}")));
                }
                bar.set_message(format!("(host unreachable: {reason}; retrying)"));
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        host_gone_since = None;
        for (i, id) in ids.iter().enumerate() {
            let Some(view) = seen.remove(id).filter(|v| ended[i].is_none() && v.status.is_final()) else { continue };
            if view.status != TaskStatus::Completed {
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
        if ended.iter().all(Option::is_some) {
            return Ok(ended.into_iter().flatten().collect());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Looks at every task not yet ended once. A task's batch is read a page of a thousand at a
/// time, so waiting on a sweep of thousands costs a few requests a round, not one per task.
async fn look_once(
    client: &Client,
    ids: &[String],
    ended: &[Option<TaskView>],
) -> Result<HashMap<String, TaskView>, ClientError> {
    let mut seen: HashMap<String, TaskView> = HashMap::new();
    let mut batches_read = HashSet::new();
    for (id, done) in ids.iter().zip(ended) {
        if done.is_some() || seen.contains_key(id) {
            continue;
        }
        let view: TaskView = client.get(&format!("/api/status/{}", seg(id))).await?;
        let batch = view.batch_id;
        seen.insert(id.clone(), view);
        if let Some(batch) = batch.filter(|b| ids.len() > 1 && batches_read.insert(*b)) {
            for task in batch_tasks(client, batch).await? {
                seen.entry(task.task_id.to_string()).or_insert(task);
            }
        }
    }
    Ok(seen)
}

/// Every task of a batch, page by page.
async fn batch_tasks(client: &Client, batch: TaskId) -> Result<Vec<TaskView>, ClientError> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = TaskQuery { batch: Some(batch.to_string()), cursor, limit: Some(1000), ..Default::default() };
        let page: TaskPage = client.get_query("/api/tasks/page", &query).await?;
        tasks.extend(page.tasks);
        match page.next_cursor {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(tasks),
        }
    }
}

/// Exit status after waiting: a failure (1) unless every task completed.
pub fn outcome(tasks: &[TaskView]) -> Result<(), Failure> {
    let bad = tasks.iter().filter(|t| t.status != TaskStatus::Completed).count();
    if bad == 0 {
        Ok(())
    } else {
        Err(Failure::failed(format!("{bad} of {} tasks did not complete", tasks.len())))
    }
}
