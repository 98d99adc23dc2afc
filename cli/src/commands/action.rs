//! Kill, pause and resume (the same for command tasks and VPS tasks), stop and start (a VPS),
//! one id or many.

use hakuriver_model::api::Message;

use crate::client::seg;
use crate::context::Ctx;
use crate::exit::{first_failure, Failure};
use crate::shapes::Acted;

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Kill,
    Pause,
    Resume,
    Stop,
    Start,
}

impl Action {
    fn path(self, id: &str) -> String {
        match self {
            Action::Kill => format!("/api/kill/{}", seg(id)),
            Action::Pause => format!("/api/command/{}/pause", seg(id)),
            Action::Resume => format!("/api/command/{}/resume", seg(id)),
            Action::Stop => format!("/api/command/{}/stop", seg(id)),
            Action::Start => format!("/api/command/{}/start", seg(id)),
        }
    }
}

/// Acts on every id, even after one is refused; each refusal is reported on standard error and
/// the exit code is the first failure's.
pub async fn run(ctx: &Ctx, action: Action, ids: &[String]) -> Result<(), Failure> {
    let client = ctx.client()?;
    let mut done = Vec::new();
    let mut codes = Vec::new();
    for id in ids {
        match client.post::<Message>(&action.path(id), &()).await {
            Ok(m) => done.push(Acted { task_id: id.clone(), message: m.message }),
            Err(e) => {
                let failure = Failure::from(e);
                eprintln!("error: task {id}: {}", failure.message);
                codes.push(failure.code);
            }
        }
    }
    let acted = || done.iter().map(|a| a.task_id.clone()).collect();
    ctx.out.print(&done, acted, || done.iter().map(|a| format!("{}\n", a.message)).collect())?;
    match first_failure(codes) {
        0 => Ok(()),
        code => Err(Failure::new(code, format!("{} of {} tasks refused", ids.len() - done.len(), ids.len()))),
    }
}
