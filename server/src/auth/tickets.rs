//! Tunnel tickets: what `REQUEST_TUNNEL <id> <ticket>` carries on the SSH proxy's plain-TCP port
//! instead of an API token. A client with a credential asks `POST /api/vps/{id}/ticket` (over
//! HTTPS where the host serves it) and gets a random ticket that opens one tunnel to that VPS,
//! once, within `TTL_MS`. A ticket seen on the wire is worth at most one tunnel for a few seconds;
//! the tunnel then holds the credential that asked for it, and ends with it. Pure bookkeeping
//! over times the caller passes in; only hashes are kept.

use std::collections::HashMap;

use hakuriver_model::TaskId;

use super::held::Presented;

/// How long a ticket may wait for its tunnel.
pub const TTL_MS: i64 = 30_000;
/// The prefix that tells a ticket from a token.
pub const PREFIX: &str = "hkt_";
/// Tickets kept at most; the oldest go first.
const MAX_TICKETS: usize = 10_000;

struct Ticket {
    task: TaskId,
    presented: Presented,
    expires_ms: i64,
}

#[derive(Default)]
pub struct Tickets {
    by_hash: HashMap<String, Ticket>,
}

impl Tickets {
    /// Keeps a ticket (`secret` is its random part) for a tunnel to `task`, opened on behalf of
    /// `presented`; answers the ticket to hand out.
    pub fn issue(&mut self, secret: &str, task: TaskId, presented: Presented, now_ms: i64) -> String {
        self.by_hash.retain(|_, t| t.expires_ms > now_ms);
        if self.by_hash.len() >= MAX_TICKETS {
            if let Some(oldest) = self.by_hash.iter().min_by_key(|(_, t)| t.expires_ms).map(|(h, _)| h.clone()) {
                self.by_hash.remove(&oldest);
            }
        }
        let ticket = format!("{PREFIX}{secret}");
        self.by_hash
            .insert(hakuriver_config::secret::hash(&ticket), Ticket { task, presented, expires_ms: now_ms + TTL_MS });
        ticket
    }

    /// Uses up `ticket` for a tunnel to `task`: the credential it was issued for, if it is one of
    /// ours, unused, unexpired and for this task. A ticket shown for another task is used up too.
    pub fn redeem(&mut self, ticket: &str, task: TaskId, now_ms: i64) -> Option<Presented> {
        let found = self.by_hash.remove(&hakuriver_config::secret::hash(ticket))?;
        (found.task == task && found.expires_ms > now_ms).then_some(found.presented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(p: Option<Presented>) -> Option<String> {
        match p {
            Some(Presented::Bearer(t)) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn a_ticket_opens_one_tunnel_to_its_task_while_fresh() {
        let mut t = Tickets::default();
        let ticket = t.issue("s1", TaskId(5), Presented::Bearer("tok".into()), 0);
        assert!(ticket.starts_with(PREFIX));
        assert_eq!(bearer(t.redeem(&ticket, TaskId(5), 1000)), Some("tok".into()));
        assert!(t.redeem(&ticket, TaskId(5), 1000).is_none(), "single use");

        let other = t.issue("s2", TaskId(5), Presented::Bearer("tok".into()), 0);
        assert!(t.redeem(&other, TaskId(6), 10).is_none(), "another task");
        assert!(t.redeem(&other, TaskId(5), 10).is_none(), "used up by the wrong try");

        let late = t.issue("s3", TaskId(5), Presented::Bearer("tok".into()), 0);
        assert!(t.redeem(&late, TaskId(5), TTL_MS).is_none(), "expired");
        assert!(t.redeem("hkt_guess", TaskId(5), 0).is_none());
    }

    #[test]
    fn old_tickets_are_dropped() {
        let mut t = Tickets::default();
        for i in 0..MAX_TICKETS + 5 {
            t.issue(&format!("s{i}"), TaskId(1), Presented::Nothing, 0);
        }
        assert!(t.by_hash.len() <= MAX_TICKETS);
        t.issue("fresh", TaskId(1), Presented::Nothing, TTL_MS + 1);
        assert_eq!(t.by_hash.len(), 1, "expired ones are dropped on the next issue");
    }
}
