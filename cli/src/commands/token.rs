//! `hakuriver token create|list|revoke` (admins): API tokens for people and scripts, and
//! `hakuriver node release`'s sibling for credentials.

use clap::Subcommand;
use hakuriver_model::auth::{Role, TokenCreated, TokenInfo, TokenRequest};

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
        TokenCommand::Create { name, role, expires_days } => {
            let request = TokenRequest { name, role, expires_in_days: expires_days };
            let created: TokenCreated = client.post("/api/auth/tokens", &request).await?;
            ctx.out.print(&created, || vec![created.token.clone()], || render_created(&created))?;
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
            ]
        })
        .collect();
    table::render(out, &["ID", "NAME", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED"], &rows)
}
