//! Finding, parsing and checking the configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::schema::Config;
use crate::validate::validate;

/// Section names: `HAKURIVER_<SECTION>_<KEY>` variables override keys of these sections.
const SECTIONS: [&str; 11] = [
    "network",
    "paths",
    "database",
    "timing",
    "environment",
    "docker",
    "runner",
    "logging",
    "auth",
    "policy",
    "limits",
];

/// The process environment as the loader sees it (a map, so tests never touch the real one).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Env { vars: std::env::vars().collect() }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `$HAKURIVER_HOME`, else `~/.hakuriver`.
    pub fn home(&self) -> PathBuf {
        if let Some(home) = self.get("HAKURIVER_HOME") {
            return PathBuf::from(home);
        }
        let user_home = self.get("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        user_home.join(".hakuriver")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
    /// `$HAKURIVER_HOME` or `~/.hakuriver`: where default data lives.
    pub home: PathBuf,
    /// Unknown keys, for the caller to log.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path} ({origin}): {source}")]
    Read { path: PathBuf, origin: &'static str, source: std::io::Error },
    #[error("{file}: invalid TOML: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: invalid value for `{key}`: {message}")]
    Invalid { file: String, key: String, message: String },
}

/// Loads the configuration: `explicit` (from `--config`), else `$HAKURIVER_CONFIG`, else
/// `<home>/config.toml` if it exists, else built-in defaults; then `HAKURIVER_<SECTION>_<KEY>`
/// overrides on top.
pub fn load(explicit: Option<&Path>, env: &Env) -> Result<Loaded, ConfigError> {
    let home = env.home();
    let source = locate(explicit, env, &home);
    let (mut table, file_label, base) = match &source {
        ConfigSource::File(path) => {
            let origin = if explicit.is_some() {
                "--config"
            } else if env.get("HAKURIVER_CONFIG").is_some() {
                "$HAKURIVER_CONFIG"
            } else {
                "default location"
            };
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                origin,
                source,
            })?;
            let label = path.display().to_string();
            let table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax { file: label.clone(), message: e.to_string() })?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (table, label, base)
        }
        ConfigSource::Defaults => (toml::Table::new(), "built-in defaults".to_string(), home.clone()),
    };
    let (config, warnings) = finish(&mut table, &file_label, &base, &home, env)?;
    Ok(Loaded { config, source, home, warnings })
}

/// Reads configuration text as `load` reads a file (environment overrides, unknown-key
/// warnings, checks); relative paths resolve against the home folder. For tests and fuzzing.
pub fn parse_str(text: &str, env: &Env) -> Result<(Config, Vec<String>), ConfigError> {
    let label = "configuration text".to_string();
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax { file: label.clone(), message: e.to_string() })?;
    let home = env.home();
    finish(&mut table, &label, &home, &home, env)
}

/// From a parsed table to a checked configuration and its warnings.
fn finish(
    table: &mut toml::Table,
    file_label: &str,
    base: &Path,
    home: &Path,
    env: &Env,
) -> Result<(Config, Vec<String>), ConfigError> {
    let from_env = apply_env_overrides(table, env);
    let origin = |key: &str| -> String {
        match from_env.get(key) {
            Some(var) => format!("environment variable {var}"),
            None => file_label.to_string(),
        }
    };

    let mut warnings = Vec::new();
    let value = toml::Value::Table(table.clone());
    let mut on_unknown = |path: serde_ignored::Path<'_>| {
        let key = path.to_string();
        warnings.push(format!("{}: unknown key `{key}` ignored", origin(&key)));
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let mut config: Config = serde_path_to_error::deserialize(ignored).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid { file: origin(&key), key, message: e.into_inner().to_string() }
    })?;

    let present = |section: &str, key: &str| table.get(section).and_then(|s| s.get(key)).is_some();
    config.resolve_paths(|section, key| if present(section, key) { base.to_path_buf() } else { home.to_path_buf() });
    validate(&config).map_err(|(key, message)| ConfigError::Invalid { file: origin(&key), key, message })?;
    Ok((config, warnings))
}

/// Where the configuration comes from; file paths are made absolute, so the folder that relative
/// paths resolve against does not depend on the working directory later.
fn locate(explicit: Option<&Path>, env: &Env, home: &Path) -> ConfigSource {
    let file = |p: &Path| ConfigSource::File(std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    if let Some(path) = explicit {
        return file(path);
    }
    if let Some(path) = env.get("HAKURIVER_CONFIG") {
        return file(Path::new(path));
    }
    let default = home.join("config.toml");
    if default.is_file() {
        ConfigSource::File(default)
    } else {
        ConfigSource::Defaults
    }
}

/// Copies `HAKURIVER_<SECTION>_<KEY>` variables into the table. A value is read as TOML when it
/// parses as one (`9000`, `true`, `["a"]`) and as a plain string otherwise. Returns, for each key
/// set this way, the variable that set it.
fn apply_env_overrides(table: &mut toml::Table, env: &Env) -> BTreeMap<String, String> {
    let mut applied = BTreeMap::new();
    let mut vars: Vec<(&String, &String)> = env.vars.iter().collect();
    vars.sort();
    for (var, raw) in vars {
        let Some(rest) = var.strip_prefix("HAKURIVER_") else { continue };
        let rest = rest.to_ascii_lowercase();
        let Some((section, key)) =
            SECTIONS.iter().find_map(|s| rest.strip_prefix(s).and_then(|r| r.strip_prefix('_')).map(|k| (*s, k)))
        else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let entry = table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section_table) = entry {
            section_table.insert(key.to_string(), value);
            applied.insert(format!("{section}.{key}"), var.clone());
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn env_with_home(home: &Path, extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![("HAKURIVER_HOME".to_string(), home.display().to_string())];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_put_data_under_home() {
        let home = tempfile::tempdir().unwrap();
        let loaded = load(None, &env_with_home(home.path(), &[])).unwrap();
        assert_eq!(loaded.source, ConfigSource::Defaults);
        assert_eq!(loaded.config, Config::defaults(home.path()));
        assert_eq!(loaded.config.paths.shared_dir, home.path().join("shared"));
        assert_eq!(loaded.config.database.db_file, home.path().join("cluster_management.db"));
        assert_eq!(loaded.config.network.host_port, 8000);
        assert_eq!(loaded.config.timing.heartbeat_interval, 5.0);
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn user_home_is_used_without_hakuriver_home() {
        let env = Env::from_pairs([("HOME", "/home/ada")]);
        assert_eq!(env.home(), PathBuf::from("/home/ada/.hakuriver"));
    }

    #[test]
    fn file_values_apply_and_relative_paths_resolve_against_its_folder() {
        let home = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cluster.toml");
        fs::write(
            &file,
            "[network]\nhost_port = 9100\n[paths]\nshared_dir = \"storage\"\n[timing]\nheartbeat_interval = 2\n[runner]\nhostname = \"n-7\"\n",
        )
        .unwrap();
        let loaded = load(Some(&file), &env_with_home(home.path(), &[])).unwrap();
        assert_eq!(loaded.source, ConfigSource::File(file.clone()));
        assert_eq!(loaded.config.network.host_port, 9100);
        assert_eq!(loaded.config.network.runner_port, 8001, "unset keys keep defaults");
        assert_eq!(loaded.config.paths.shared_dir, dir.path().join("storage"));
        assert_eq!(loaded.config.paths.local_temp_dir, home.path().join("temp"), "absent path keys default under home");
        assert_eq!(loaded.config.timing.heartbeat_interval, 2.0);
        assert_eq!(loaded.config.runner.hostname, "n-7");
    }

    #[test]
    fn config_is_found_through_env_then_home() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join("config.toml"), "[network]\nhost_port = 8100\n").unwrap();
        let loaded = load(None, &env_with_home(home.path(), &[])).unwrap();
        assert_eq!(loaded.config.network.host_port, 8100);

        let other = home.path().join("other.toml");
        fs::write(&other, "[network]\nhost_port = 8200\n").unwrap();
        let env = env_with_home(home.path(), &[("HAKURIVER_CONFIG", other.to_str().unwrap())]);
        assert_eq!(load(None, &env).unwrap().config.network.host_port, 8200);

        let explicit = home.path().join("explicit.toml");
        fs::write(&explicit, "[network]\nhost_port = 8300\n").unwrap();
        assert_eq!(load(Some(&explicit), &env).unwrap().config.network.host_port, 8300, "--config wins");
    }

    #[test]
    fn key_overrides_from_the_environment() {
        let home = tempfile::tempdir().unwrap();
        let env = env_with_home(
            home.path(),
            &[
                ("HAKURIVER_NETWORK_HOST_PORT", "9300"),
                ("HAKURIVER_NETWORK_HOST_BIND_IP", "0.0.0.0"),
                ("HAKURIVER_DOCKER_TASKS_PRIVILEGED", "true"),
                ("HAKURIVER_TOKEN", "not-a-section"),
            ],
        );
        let loaded = load(None, &env).unwrap();
        assert_eq!(loaded.config.network.host_port, 9300);
        assert_eq!(loaded.config.network.host_bind_ip, "0.0.0.0");
        assert!(loaded.config.docker.tasks_privileged);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        let env = env_with_home(dir.path(), &[]);
        for (text, key) in [
            ("[network]\nhost_port = \"eighty\"\n", "network.host_port"),
            ("[network]\nhost_port = 70000\n", "network.host_port"),
            ("[network]\nhost_bind_ip = \"not an ip\"\n", "network.host_bind_ip"),
            ("[timing]\nheartbeat_interval = 0\n", "timing.heartbeat_interval"),
            ("[docker]\ncontainer_dir = \"../escape\"\n", "docker.container_dir"),
            ("[docker]\nvps_snapshots_kept = 0\n", "docker.vps_snapshots_kept"),
            ("[runner]\nhostname = \"bad host/name\"\n", "runner.hostname"),
            ("[auth]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/40\"]\n", "auth.trusted_proxies[1]"),
        ] {
            fs::write(&file, text).unwrap();
            let err = load(Some(&file), &env).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(&err, ConfigError::Invalid { key: k, .. } if k == key), "{text}: {msg}");
            assert!(msg.contains(&file.display().to_string()) && msg.contains(key), "{msg}");
        }
    }

    #[test]
    fn trusted_proxies_come_from_the_environment_too() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with_home(dir.path(), &[("HAKURIVER_AUTH_TRUSTED_PROXIES", r#"["127.0.0.1", "10.0.0.0/8"]"#)]);
        let proxies = load(None, &env).unwrap().config.auth.trusted_proxies;
        assert_eq!(proxies, vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]);
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with_home(dir.path(), &[("HAKURIVER_NETWORK_RUNNER_PORT", "lots")]);
        let msg = load(None, &env).unwrap_err().to_string();
        assert!(msg.contains("HAKURIVER_NETWORK_RUNNER_PORT") && msg.contains("network.runner_port"), "{msg}");
    }

    #[test]
    fn unknown_keys_warn_and_syntax_errors_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let env = env_with_home(dir.path(), &[]);
        fs::write(&file, "[network]\nhost_prot = 1\n[gpus]\nx = 1\n").unwrap();
        let loaded = load(Some(&file), &env).unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings.iter().any(|w| w.contains("network.host_prot")));

        fs::write(&file, "[network\n").unwrap();
        assert!(matches!(load(Some(&file), &env), Err(ConfigError::Syntax { .. })));
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(Some(&dir.path().join("nope.toml")), &env_with_home(dir.path(), &[])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { origin: "--config", .. }), "{err}");
    }

    #[test]
    fn the_commented_default_file_means_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        fs::write(&file, crate::DEFAULT_CONFIG_TOML).unwrap();
        let loaded = load(Some(&file), &env_with_home(dir.path(), &[])).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config, Config::defaults(dir.path()));
    }

    #[test]
    fn the_initial_file_turns_auth_on_with_fresh_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let text = crate::initial_config_toml().unwrap();
        fs::write(&file, &text).unwrap();
        let auth = load(Some(&file), &env_with_home(dir.path(), &[])).unwrap().config.auth;
        assert!(auth.enabled);
        let (runner, admin) = (auth.runner_token.expose().unwrap(), auth.admin_token.expose().unwrap());
        assert!(runner.len() == 64 && admin.len() == 64 && runner != admin);
        assert_eq!(auth.client_token(), Some(admin));
        assert_ne!(crate::initial_config_toml().unwrap(), text);
    }
}
