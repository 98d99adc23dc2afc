//! `hakuriver token create|update|list|revoke` (admins): API tokens for people and scripts, and
//! `hakuriver node release`'s sibling for credentials.

use clap::Subcommand;
use hakuriver_model::auth::{Role, TokenCreated, TokenInfo, TokenLimits, TokenRequest};
use hakuriver_model::limits::UserLimits;

use crate::client::seg;
use crate::context::Ctx;
use crate::exit::{first_failure, Failure};
use crate::output::Output;
use crate::table::{self, Cell};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once and never again.
    #[command(after_help = "Examples:\n  hakuriver token create alice --role user\n  \
        hakuriver token create ci-bot --role operator --expires-days 90\n  \
        hakuriver token create bob --limit gpus=4 --limit running_tasks=10\n  \
        export HAKURIVER_TOKEN=$(hakuriver token create dashboard-viewer --role viewer -q)")]
    Create {
        /// Who it is for: tasks it submits belong to this name.
        name: String,
        /// viewer (read), user (submit, control own tasks), operator (all tasks, environments),
        /// admin (terminals, tokens, nodes).
        #[arg(long, default_value = "user")]
        role: Role,
        /// Days until it expires [default: never].
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
        /// Its own per-user limit instead of [limits]' per_user_*: running_tasks, cores, gpus or
        /// vps (0: unlimited); repeatable.
        #[arg(long = "limit", value_name = "KEY=N")]
        limits: Vec<String>,
    },
    /// Set a token's own per-user limits (tasks over them wait, with the limit as their reason).
    #[command(after_help = "Examples:\n  hakuriver token update 3f2a9c01b7d4 --limit gpus=4 --limit cores=32\n  \
        hakuriver token update 3f2a9c01b7d4 --no-limits     # back to [limits]")]
    Update {
        id: String,
        /// running_tasks, cores, gpus or vps = N (0: unlimited); repeatable. Keys not given are
        /// [limits]' again.
        #[arg(long = "limit", value_name = "KEY=N", required_unless_present = "no_limits")]
        limits: Vec<String>,
        /// Drop the token's own limits: [limits] applies.
        #[arg(long, conflicts_with = "limits")]
        no_limits: bool,
    },
    /// List tokens (never their secrets).
    #[command(after_help = "Examples:\n  hakuriver token list\n  hakuriver token list --json")]
    List,
    /// Revoke tokens by id: they stop working at once, and their dashboard logins end.
    #[command(after_help = "Example:\n  hakuriver token revoke 3f2a9c01b7d4")]
    Revoke {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, command: TokenCommand) -> Result<(), Failure> {
    let client = ctx.client()?;
    match command {
        TokenCommand::Create { name, role, expires_days, limits } => {
            let limits = user_limits(&limits).map_err(Failure::usage)?;
            let request = TokenRequest { name, role, expires_in_days: expires_days, limits };
            let created: TokenCreated = client.post("/api/auth/tokens", &request).await?;
            ctx.out.print(&created, || vec![created.token.clone()], || render_created(&created))?;
        }
        TokenCommand::Update { id, limits, no_limits } => {
            let limits = if no_limits { None } else { user_limits(&limits).map_err(Failure::usage)? };
            let info: TokenInfo =
                client.post(&format!("/api/auth/tokens/{}/limits", seg(&id)), &TokenLimits { limits }).await?;
            let text = || format!("{} ({}): limits {}\n", info.id, info.name, limits_text(info.limits.as_ref()));
            ctx.out.print(&info, || vec![info.id.clone()], text)?;
        }
        TokenCommand::List => {
            let tokens: Vec<TokenInfo> = client.get("/api/auth/tokens").await?;
            ctx.out.print(
                &tokens,
                || tokens.iter().map(|t| t.id.clone()).collect(),
                || render_list(&ctx.out, &tokens),
            )?;
        }
        TokenCommand::Revoke { ids } => {
            let mut revoked = Vec::new();
            let mut codes = Vec::new();
            for id in &ids {
                match client.delete::<TokenInfo>(&format!("/api/auth/tokens/{}", seg(id))).await {
                    Ok(info) => revoked.push(info),
                    Err(e) => {
                        let failure = Failure::from(e);
                        eprintln!("error: token {id}: {}", failure.message);
                        codes.push(failure.code);
                    }
                }
            }
            ctx.out.print(
                &revoked,
                || revoked.iter().map(|t| t.id.clone()).collect(),
                || revoked.iter().map(|t| format!("revoked {} ({})\n", t.id, t.name)).collect(),
            )?;
            let code = first_failure(codes);
            if code != 0 {
                return Err(Failure::new(
                    code,
                    format!("{} of {} tokens refused", ids.len() - revoked.len(), ids.len()),
                ));
            }
        }
    }
    Ok(())
}

/// `--limit KEY=N`s as limits; none given: none.
fn user_limits(assignments: &[String]) -> Result<Option<UserLimits>, String> {
    if assignments.is_empty() {
        return Ok(None);
    }
    let mut limits = UserLimits::default();
    for a in assignments {
        limits.set(a).map_err(|e| format!("--limit {e}"))?;
    }
    Ok(Some(limits))
}

/// `gpus=4 cores=16`, or `[limits]` for a token without its own.
fn limits_text(limits: Option<&UserLimits>) -> String {
    let Some(l) = limits else { return "[limits]".into() };
    let set: Vec<String> = [("running_tasks", l.running_tasks), ("cores", l.cores), ("gpus", l.gpus), ("vps", l.vps)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    set.join(" ")
}

fn render_created(t: &TokenCreated) -> String {
    format!(
        "Token for {} ({}), id {}{}:\n\n  {}\n\nIt is shown only now. Use it as HAKURIVER_TOKEN, `[auth] token` in the CLI's config, or on the dashboard's login page.\n",
        t.info.name,
        t.info.role,
        t.info.id,
        t.info.expires_at.map(|at| format!(", expires {}", at.format(table::TIME))).unwrap_or_default(),
        t.token,
    )
}

fn render_list(out: &Output, tokens: &[TokenInfo]) -> String {
    if tokens.is_empty() {
        return "No tokens yet. Create one with `hakuriver token create NAME --role user`.\n".into();
    }
    let time = |t: Option<chrono::NaiveDateTime>| t.map_or("-".to_string(), |t| t.format(table::TIME).to_string());
    let rows: Vec<Vec<Cell>> = tokens
        .iter()
        .map(|t| {
            let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
            vec![
                t.id.clone().into(),
                t.name.clone().into(),
                t.role.to_string().into(),
                Cell::status(state),
                time(t.created_at).into(),
                time(t.expires_at).into(),
                time(t.last_used_at).into(),
                limits_text(t.limits.as_ref()).into(),
            ]
        })
        .collect();
    table::render(out, &["ID", "NAME", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED", "LIMITS"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_the_command_line() {
        assert_eq!(user_limits(&[]), Ok(None));
        let l = user_limits(&["gpus=4".into(), "running_tasks=10".into()]).unwrap().unwrap();
        assert_eq!((l.gpus, l.running_tasks, l.cores), (Some(4), Some(10), None));
        assert_eq!(limits_text(Some(&l)), "running_tasks=10 gpus=4");
        assert_eq!(limits_text(None), "[limits]");
        assert!(user_limits(&["gpu=4".into()]).unwrap_err().starts_with("--limit unknown limit"));
    }
}
