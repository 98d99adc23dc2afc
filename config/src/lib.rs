//! One configuration format for every HakuRiver binary: the original's TOML sections and keys,
//! each optional with a documented default (see `default_config.toml`, which `hakuriver init
//! config` writes and which doubles as the reference).
//!
//! Where the file comes from, first match wins: `--config FILE`, `$HAKURIVER_CONFIG`,
//! `$HAKURIVER_HOME/config.toml` (default home `~/.hakuriver`), then built-in defaults. Any key
//! can also be set with `HAKURIVER_<SECTION>_<KEY>` (e.g. `HAKURIVER_NETWORK_HOST_PORT=9000`).
//! Relative paths resolve against the config file's folder (against the home folder when no file
//! is used). Unknown keys produce warnings; invalid values are errors naming the source and key.

mod load;
mod net;
mod schema;
pub mod secret;
mod validate;

pub use load::{load, parse_str, ConfigError, ConfigSource, Env, Loaded};
pub use net::IpNet;
pub use schema::{
    AuthSection, Config, DatabaseSection, DockerSection, EnvironmentSection, LogFormat, LoggingSection, NetworkSection,
    PathsSection, RegistryLogin, RunnerSection, TimingSection,
};
pub use secret::Secret;

/// The commented default configuration, as written by `hakuriver init config`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default_config.toml");

/// The configuration `hakuriver init config` writes: the commented defaults with authentication
/// on and fresh random tokens for the runners and the admin.
pub fn initial_config_toml() -> Result<String, getrandom::Error> {
    let runner = secret::generate()?;
    let admin = secret::generate()?;
    Ok(DEFAULT_CONFIG_TOML
        .replacen("\nenabled = false\n", "\nenabled = true\n", 1)
        .replacen("\nrunner_token = \"\"\n", &format!("\nrunner_token = \"{runner}\"\n"), 1)
        .replacen("\nadmin_token = \"\"\n", &format!("\nadmin_token = \"{admin}\"\n"), 1))
}
