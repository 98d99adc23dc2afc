//! The dashboard's site settings from `Leptos.toml` (embedded at build time, read at start):
//! the bundle's name and folders the host serves, the same values cargo-leptos and
//! scripts/build-site.sh use.

use serde::Deserialize;

/// `Leptos.toml`, as built into this host.
const LEPTOS_TOML: &str = include_str!("../../Leptos.toml");

/// What the host itself needs of the file (the rest is cargo-leptos' and build-site.sh's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SiteSettings {
    pub output_name: String,
    pub site_root: String,
    pub site_pkg_dir: String,
    pub reload_port: u16,
    pub bin_package: String,
}

#[derive(Debug, thiserror::Error)]
#[error("Leptos.toml built into this host does not parse: {0}")]
pub struct SettingsError(#[from] toml::de::Error);

/// The settings built into this host.
pub fn embedded() -> Result<SiteSettings, SettingsError> {
    Ok(toml::from_str(LEPTOS_TOML)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leptos_toml_parses_and_names_the_folder_the_host_embeds() {
        let s = embedded().expect("Leptos.toml");
        // `site::SiteAssets` embeds `../target/site` (a compile-time path): they must agree.
        assert_eq!((s.site_root.as_str(), s.site_pkg_dir.as_str()), ("target/site", "pkg"));
        assert_eq!(s.bin_package, env!("CARGO_PKG_NAME"));
    }

    #[test]
    fn cargo_leptos_metadata_says_the_same_as_leptos_toml() {
        let cargo: toml::Table = toml::from_str(include_str!("../../Cargo.toml")).expect("Cargo.toml");
        let entries = cargo["workspace"]["metadata"]["leptos"].as_array().expect("[[workspace.metadata.leptos]]");
        let metadata = entries.first().and_then(toml::Value::as_table).expect("one site");
        let ours: toml::Table = toml::from_str(LEPTOS_TOML).expect("Leptos.toml");
        for (key, value) in &ours {
            assert_eq!(metadata.get(key), Some(value), "Cargo.toml's cargo-leptos metadata differs on {key}");
        }
        for key in metadata.keys().filter(|k| *k != "name") {
            assert!(ours.contains_key(key), "{key} is in Cargo.toml's metadata but not in Leptos.toml");
        }
        assert_eq!(metadata.get("name"), ours.get("output-name"));
    }
}
