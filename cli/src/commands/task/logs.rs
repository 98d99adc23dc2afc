//! `task logs`: a task's output, whole or followed as it is written (the host's server-sent
//! events; a dropped stream is picked up again where it stopped). The bytes go to standard output
//! exactly as the task wrote them; only `--json` decodes them (as UTF-8, invalid bytes shown as
//! U+FFFD).

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;

use crate::client::{seg, Client, ClientError};
use crate::context::Ctx;
use crate::exit::{Failure, UNREACHABLE};
use crate::output::{progress, Mode};
use crate::shapes::TaskLog;
use crate::sse::SseParser;

/// How long a followed stream may stay broken before giving up.
const RECONNECT_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(ctx: &Ctx, ids: &[String], stderr: bool, follow: bool) -> Result<(), Failure> {
    let client = ctx.client()?;
    let stream = if stderr { "stderr" } else { "stdout" };
    let mut logs = Vec::new();
    for id in ids {
        if ids.len() > 1 && ctx.out.mode != Mode::Json {
            println!("==> task {id} <==");
        }
        if follow {
            follow_one(ctx, &client, id, stream).await?;
        } else if ctx.out.mode == Mode::Json {
            let mut bytes = Vec::new();
            read_whole(&client, id, stream, |piece| {
                bytes.extend_from_slice(piece);
                Ok(())
            })
            .await?;
            logs.push(TaskLog { task_id: id.clone(), stream, text: String::from_utf8_lossy(&bytes).into_owned() });
        } else {
            read_whole(&client, id, stream, write_out).await?;
        }
    }
    if ctx.out.mode == Mode::Json && !follow {
        println!("{}", serde_json::to_string_pretty(&logs)?);
    }
    Ok(())
}

fn write_out(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| Failure::failed(format!("cannot write: {e}")))
}

/// The whole log in one streamed read, each piece handed to `sink` as it arrives.
async fn read_whole(
    client: &Client,
    id: &str,
    stream: &str,
    mut sink: impl FnMut(&[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let response = client.stream(&format!("/api/task/{}/{stream}", seg(id))).await?;
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| Failure::new(UNREACHABLE, format!("the log of task {id} broke off: {e}")))?;
        sink(&piece)?;
    }
    Ok(())
}

async fn follow_one(ctx: &Ctx, client: &Client, id: &str, stream: &'static str) -> Result<(), Failure> {
    let bar = progress(None, "{spinner} following task {msg}");
    let mut offset: u64 = 0;
    let mut broken_since: Option<Instant> = None;
    bar.set_message(format!("{id} ({stream})"));
    loop {
        let path = format!("/api/task/{}/{stream}/follow?offset={offset}", seg(id));
        let ended = match client.stream(&path).await {
            Ok(response) => {
                broken_since = None;
                read_events(ctx, response, id, stream, &mut offset, &bar).await?
            }
            Err(ClientError::Unreachable { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(status) = ended {
            bar.finish_and_clear();
            if ctx.out.is_human() {
                eprintln!("task {id} ended: {status}");
            }
            return Ok(());
        }
        let since = *broken_since.get_or_insert_with(Instant::now);
        if since.elapsed() > RECONNECT_LIMIT {
            bar.finish_and_clear();
            return Err(Failure::new(UNREACHABLE, format!("lost the host while following task {id}")));
        }
        bar.set_message(format!("{id} ({stream}; reconnecting)"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Prints the stream's output events; `Some(status)` once the `end` event came, `None` if the
/// stream broke first.
async fn read_events(
    ctx: &Ctx,
    response: reqwest::Response,
    id: &str,
    stream: &'static str,
    offset: &mut u64,
    bar: &indicatif::ProgressBar,
) -> Result<Option<String>, Failure> {
    let mut parser = SseParser::default();
    let mut pending = Vec::new();
    let mut bytes = response.bytes_stream();
    while let Some(piece) = bytes.next().await {
        let Ok(piece) = piece else { return Ok(None) };
        for event in parser.push(&piece) {
            match event.event.as_str() {
                "output" => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(event.data.trim())
                        .map_err(|e| Failure::failed(format!("unexpected answer from the host: {e}")))?;
                    if let Some(next) = event.id.and_then(|i| i.parse().ok()) {
                        *offset = next;
                    }
                    match ctx.out.mode {
                        Mode::Json => {
                            // A character cut between two events is printed whole with the next.
                            pending.extend_from_slice(&bytes);
                            let whole = hakuriver_model::text::utf8_prefix(&pending);
                            let text = String::from_utf8_lossy(&pending[..whole]).into_owned();
                            pending.drain(..whole);
                            let line = serde_json::to_string(&TaskLog { task_id: id.to_string(), stream, text })?;
                            bar.suspend(|| println!("{line}"));
                        }
                        _ => bar.suspend(|| write_out(&bytes))?,
                    }
                }
                "end" => return Ok(Some(event.data)),
                _ => {}
            }
        }
    }
    Ok(None)
}
