//! What a request presented (a bearer token or a login cookie), and holding it for as long as a
//! connection it opened lasts: a websocket or an SSH tunnel ends when its token is revoked or
//! expires, or its login session ends (logout, expiry, its token revoked), not when it closes.

use std::time::Duration;

use super::{Auth, Credential};
use crate::db::DbError;

/// How often a held credential is checked when nothing was revoked: what catches expiry.
const RECHECK: Duration = Duration::from_secs(30);

/// The reason a connection gets when its credential lapses.
pub const LAPSED: &str = "Your token or login session was revoked or expired; log in again.";

/// No `Debug`: it holds a secret.
#[derive(Clone)]
pub enum Presented {
    Nothing,
    Bearer(String),
    Cookie(String),
}

impl Presented {
    /// What the credential is now, if it holds.
    pub async fn resolve(&self, auth: &Auth) -> Result<Option<Credential>, DbError> {
        match self {
            Presented::Bearer(token) => auth.bearer(token).await,
            Presented::Cookie(cookie) => Ok(auth.session(cookie).await?.map(Credential::Person)),
            Presented::Nothing => Ok(None),
        }
    }
}

/// The credential a long-lived connection was opened with (set by the guard on websockets).
#[derive(Clone)]
pub struct Held {
    auth: Auth,
    presented: Presented,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl Held {
    /// `changes` is `auth.changes()` taken before the credential was checked, so a revocation
    /// between the check and the connection is not missed.
    pub fn new(auth: Auth, presented: Presented, changes: tokio::sync::watch::Receiver<u64>) -> Held {
        Held { auth, presented, changes }
    }

    /// Completes when the credential no longer holds: at once after a revocation or logout,
    /// within `RECHECK` after an expiry. A failed lookup (the database busy) is not a lapse.
    pub async fn lapsed(self) {
        let Held { auth, presented, mut changes } = self;
        if changes.has_changed().unwrap_or(false) {
            changes.mark_unchanged();
            if let Ok(None) = presented.resolve(&auth).await {
                return;
            }
        }
        loop {
            tokio::select! {
                // Never an error: `self.auth` holds the sender.
                _ = changes.changed() => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
            match presented.resolve(&auth).await {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "cannot check a connection's credential; keeping it"),
            }
        }
    }
}

/// Completes when `held` lapses; never without one (authentication off).
pub async fn lapsed(held: Option<Held>) {
    match held {
        Some(held) => held.lapsed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakuriver_config::AuthSection;
    use hakuriver_model::auth::{Role, TokenRequest};

    #[tokio::test]
    async fn a_held_token_lapses_when_revoked_and_others_hold() {
        let dir = tempfile::tempdir().unwrap();
        let config = AuthSection { enabled: true, ..Default::default() };
        let auth = Auth::new(&config, crate::db::test_pool(dir.path()).await);
        let token =
            |name: &str| TokenRequest { name: name.into(), role: Role::Viewer, expires_in_days: None, limits: None };
        let kept = auth.create_token(&token("kept")).await.unwrap();
        let gone = auth.create_token(&token("gone")).await.unwrap();
        let hold = |token: String| Held::new(auth.clone(), Presented::Bearer(token), auth.changes());
        let kept_lapse = tokio::spawn(hold(kept.token).lapsed());
        let gone_lapse = tokio::spawn(hold(gone.token).lapsed());
        let unheld = tokio::spawn(lapsed(None));
        tokio::time::sleep(Duration::from_millis(50)).await;
        auth.revoke(&gone.info.id).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), gone_lapse).await.expect("lapses at once").unwrap();
        // Revoked after the check but before the connection began to watch: caught at its start.
        let late = auth.create_token(&token("late")).await.unwrap();
        let held = hold(late.token);
        auth.revoke(&late.info.id).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), held.lapsed()).await.expect("lapses at its start");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!kept_lapse.is_finished(), "a token not revoked holds");
        assert!(!unheld.is_finished(), "nothing held (auth off) never lapses");
        kept_lapse.abort();
        unheld.abort();
    }
}
