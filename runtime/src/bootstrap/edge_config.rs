//! The part of `edge.yaml` (the chart's ConfigMap) the bootstrap reads:
//! `controlPlane` and `services`. Parsed here rather than through the
//! edge's reader, which is another subcommand's; other keys are ignored.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use values_schema::values::{ControlPlane, ControlPlaneMode, Service};

/// What the bootstrap needs of `edge.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeConfig {
    /// The control plane: mode and API URL.
    #[serde(default)]
    pub control_plane: ControlPlane,
    /// Services declared in values.
    #[serde(default)]
    pub services: Vec<Service>,
}

/// `edge.yaml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The YAML does not parse or does not fit the types; `place` is
    /// `:line:col` when serde_yaml knows it.
    #[error("{}{place}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// `:line:col` or empty.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// Services that cannot be loaded in this mode, all of them at once.
    #[error("{}: {}", path.display(), problems.join("; "))]
    Services {
        /// The file.
        path: PathBuf,
        /// One sentence per problem, each naming the service and the fix.
        problems: Vec<String>,
    },
}

impl EdgeConfig {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<EdgeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
            path: path.to_owned(),
            error,
        })?;
        EdgeConfig::parse(path, &text)
    }

    /// Parses `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<EdgeConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(EdgeConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| {
            let place = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            // serde_yaml appends " at line L column C"; the place is
            // already in front, in the file:line:col form editors follow.
            let mut message = e.to_string();
            if let Some(at) = message.rfind(" at line ").filter(|_| !place.is_empty()) {
                message.truncate(at);
            }
            ConfigError::Invalid {
                path: path.to_owned(),
                place,
                message,
            }
        })
    }

    /// Checks that every service can be loaded in this file's mode.
    pub fn check_services(&self, path: &Path) -> Result<(), ConfigError> {
        let mode = self.control_plane.mode;
        let problems: Vec<String> = self
            .services
            .iter()
            .flat_map(|s| service_problems(s, mode))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Services {
                path: path.to_owned(),
                problems,
            })
        }
    }
}

/// What keeps `service` from loading in `mode`, one sentence each.
fn service_problems(service: &Service, mode: ControlPlaneMode) -> Vec<String> {
    let name = &service.name;
    let package = &service.package;
    let mut problems = Vec::new();
    if service.domains.is_empty() {
        problems.push(format!(
            "service {name:?} has no domains: list the host names it serves under domains"
        ));
    }
    let sources = [
        package.oci.is_some(),
        package.url.is_some(),
        package.fastly_service_id.is_some(),
    ];
    if sources.iter().filter(|&&s| s).count() != 1 {
        problems.push(format!(
            "service {name:?} needs exactly one package source: package.oci, package.url (with package.sha256) or package.fastlyServiceId"
        ));
    }
    if package.url.is_some() && package.sha256.is_none() {
        problems.push(format!(
            "service {name:?} has package.url without package.sha256: add the package's SHA-256 (64 hex digits)"
        ));
    }
    if mode == ControlPlaneMode::Offline && package.fastly_service_id.is_some() {
        problems.push(format!(
            "service {name:?} uses package.fastlyServiceId, which needs controlPlane.mode fastly: in offline mode give package.oci or package.url with package.sha256, or set controlPlane.mode to fastly"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::parse(Path::new("edge.yaml"), text)
    }

    #[test]
    fn reads_the_control_plane_and_ignores_other_keys() {
        let c =
            parse("limits: {cpuMs: 5}\ncontrolPlane:\n  mode: offline\npeersService: p\n").unwrap();
        assert_eq!(c.control_plane.mode, ControlPlaneMode::Offline);
        assert_eq!(
            parse("").unwrap().control_plane.api_url,
            "https://api.fastly.com"
        );
    }

    #[test]
    fn names_file_line_and_column() {
        let e = parse("controlPlane:\n  mode: sometimes\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("edge.yaml:2:9: "), "{e}");
        assert!(!e.contains(" at line "), "{e}");
    }

    #[test]
    fn offline_refuses_fastly_service_ids() {
        let yaml = "controlPlane: {mode: offline}\nservices:\n- name: shop\n  domains: [a.example]\n  package: {fastlyServiceId: SU1Z}\n- name: blog\n  domains: []\n  package: {url: 'https://x/p.tar.gz'}\n";
        let c = parse(yaml).unwrap();
        let e = c
            .check_services(Path::new("edge.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"shop\" uses package.fastlyServiceId"), "{e}");
        assert!(e.contains("\"blog\" has no domains"), "{e}");
        assert!(
            e.contains("\"blog\" has package.url without package.sha256"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
