//! What every command gets: where the host is (flags, environment, configuration file) and how
//! to print.

use std::path::PathBuf;

use hakuriver_config::{Env, Loaded};

use crate::client::Client;
use crate::exit::Failure;
use crate::output::Output;

pub struct Ctx {
    /// `--config`; else `$HAKURIVER_CONFIG`, else `~/.hakuriver/config.toml`, else defaults.
    pub config: Option<PathBuf>,
    /// `--host` or `$HAKURIVER_HOST`: wins over the configuration.
    pub host: Option<String>,
    pub env: Env,
    pub out: Output,
}

impl Ctx {
    /// The configuration; a bad file is a usage error (2). Its warnings go to standard error.
    pub fn config(&self) -> Result<Loaded, Failure> {
        let loaded = hakuriver_config::load(self.config.as_deref(), &self.env).map_err(Failure::usage)?;
        for warning in &loaded.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(loaded)
    }

    /// The host's base URL.
    pub fn host_url(&self) -> Result<String, Failure> {
        match &self.host {
            Some(url) => Ok(url.clone()),
            None => Ok(self.config()?.config.host_url()),
        }
    }

    /// A client for the host, trusting `network.tls_ca_file` when the configuration names one.
    pub fn client(&self) -> Result<Client, Failure> {
        let config = self.config()?.config;
        let url = self.host.clone().unwrap_or_else(|| config.host_url());
        reqwest::Url::parse(&url).map_err(|e| {
            Failure::usage(format!("the host URL {url:?} is not a URL ({e}); e.g. http://10.0.0.1:8000"))
        })?;
        let tls = |e: &dyn std::fmt::Display| Failure::usage(format!("network.tls_ca_file: {e}"));
        let ca = config.tls_ca_pem().map_err(|e| tls(&e))?;
        let token = self.token(&config);
        Client::new(&url, ca.as_deref(), token.as_deref()).map_err(|e| tls(&e))
    }

    /// The token to present: `$HAKURIVER_TOKEN`, else `[auth] token`, else `[auth] admin_token`.
    pub fn token(&self, config: &hakuriver_config::Config) -> Option<String> {
        self.env
            .get("HAKURIVER_TOKEN")
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .or_else(|| config.auth.client_token().map(str::to_string))
    }
}
