//! `helm anywhere version`: the versions of the plugin, of the chart beside
//! it (or `--chart`) and of the image that chart runs, and the differences
//! between them that would make `validate` check other values than the ones
//! installed, or the chart pass arguments the runtime does not know.

use crate::validate::{ValidateError, ValidateRequest, validate};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The plugin's own version.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct VersionRequest {
    /// The chart directory; `None`: look beside the plugin.
    pub chart: Option<PathBuf>,
    /// Values files that may set `image.tag` or `image.digest`.
    pub values: Vec<PathBuf>,
}

/// Why the versions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// `Chart.yaml` could not be read.
    #[error("cannot read {path}: {source}")]
    ReadChart {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `Chart.yaml` is not a chart description.
    #[error("{path} is not a Chart.yaml with a name and a version: {message}")]
    BadChart {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
    /// The values could not be read.
    #[error(transparent)]
    Values(#[from] ValidateError),
}

/// The versions found.
#[derive(Debug, Clone, PartialEq)]
pub struct Versions {
    /// The plugin's version.
    pub plugin: String,
    /// The chart, when one was found.
    pub chart: Option<ChartVersions>,
}

/// A chart's versions and the image it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartVersions {
    /// The chart directory.
    pub dir: PathBuf,
    /// `name` in Chart.yaml.
    pub name: String,
    /// `version` in Chart.yaml.
    pub version: String,
    /// `appVersion` in Chart.yaml.
    pub app_version: Option<String>,
    /// The image the pods run.
    pub image: Image,
}

/// The image reference the chart's values give.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `image.repository`.
    pub repository: String,
    /// `image.tag`, else the chart's appVersion.
    pub tag: Option<String>,
    /// `image.digest`, which wins over the tag.
    pub digest: Option<String>,
}

impl Image {
    /// The reference as the chart writes it.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.repository),
            (None, Some(t)) => format!("{}:{t}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }
}

#[derive(Deserialize)]
struct ChartYaml {
    name: String,
    version: String,
    #[serde(rename = "appVersion")]
    app_version: Option<String>,
}

/// Reads the versions.
pub fn versions(request: &VersionRequest) -> Result<Versions, VersionError> {
    let dir = match &request.chart {
        Some(dir) => Some(dir.clone()),
        None => chart_beside_plugin(),
    };
    let chart = match dir {
        Some(dir) => Some(read_chart(&dir, &request.values)?),
        None => None,
    };
    Ok(Versions {
        plugin: PLUGIN_VERSION.to_owned(),
        chart,
    })
}

/// The chart of the checkout the plugin was installed from: Helm links a
/// local plugin directory into its data directory and says where in
/// `HELM_PLUGIN_DIR`; the binary itself lives in `<plugin>/bin/`.
fn chart_beside_plugin() -> Option<PathBuf> {
    let from_helm = std::env::var_os("HELM_PLUGIN_DIR").map(PathBuf::from);
    let from_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf));
    [from_helm, from_binary]
        .into_iter()
        .flatten()
        .filter_map(|plugin_dir| plugin_dir.canonicalize().ok())
        .filter_map(|plugin_dir| {
            plugin_dir
                .parent()
                .map(|repo| repo.join("charts/fastly-anywhere"))
        })
        .find(|chart| chart.join("Chart.yaml").is_file())
}

fn read_chart(dir: &Path, values: &[PathBuf]) -> Result<ChartVersions, VersionError> {
    let path = dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&path).map_err(|source| VersionError::ReadChart {
        path: path.display().to_string(),
        source,
    })?;
    let chart: ChartYaml = serde_yaml::from_str(&text).map_err(|e| VersionError::BadChart {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let outcome = validate(&ValidateRequest {
        files: values.to_vec(),
        chart: Some(dir.to_path_buf()),
        ..Default::default()
    })?;
    let defaults = read_defaults(dir)?;
    let image_key = |key: &str| {
        [&outcome.user_values, &defaults]
            .into_iter()
            .find_map(|v| {
                v.get("image")
                    .and_then(|i| i.get(key))
                    .and_then(Value::as_str)
            })
            .map(str::to_owned)
    };
    let image = Image {
        repository: image_key("repository").unwrap_or_default(),
        tag: image_key("tag").or_else(|| chart.app_version.clone()),
        digest: image_key("digest"),
    };
    Ok(ChartVersions {
        dir: dir.to_path_buf(),
        name: chart.name,
        version: chart.version,
        app_version: chart.app_version,
        image,
    })
}

fn read_defaults(dir: &Path) -> Result<Value, VersionError> {
    let path = dir.join("values.yaml");
    let text = std::fs::read_to_string(&path).map_err(|source| VersionError::ReadChart {
        path: path.display().to_string(),
        source,
    })?;
    Ok(serde_yaml::from_str(&text).unwrap_or(Value::Null))
}

impl Versions {
    /// What standard output shows: one line each.
    pub fn render_text(&self) -> String {
        let mut out = format!("helm-anywhere {}\n", self.plugin);
        if let Some(c) = &self.chart {
            out.push_str(&format!(
                "chart {} {} (appVersion {}) at {}\n",
                c.name,
                c.version,
                c.app_version.as_deref().unwrap_or("none"),
                c.dir.display()
            ));
            out.push_str(&format!("image {}\n", c.image.reference()));
        }
        out
    }

    /// The differences worth a warning, each a sentence with the fix.
    pub fn mismatches(&self) -> Vec<String> {
        let Some(c) = &self.chart else {
            return Vec::new();
        };
        let mut found = Vec::new();
        if c.version != self.plugin {
            found.push(format!(
                "the plugin is {} but the chart is {}: `helm anywhere validate` checks values against the chart {} it was built with; install the plugin of the chart's release, or pass `validate --chart {}`",
                self.plugin,
                c.version,
                self.plugin,
                c.dir.display()
            ));
        }
        if let (None, Some(tag), Some(app)) = (&c.image.digest, &c.image.tag, &c.app_version)
            && tag != app
        {
            found.push(format!(
                "the image tag is {tag} but the chart's appVersion is {app}: the chart passes the arguments of runtime {app}; remove image.tag or set it to {app}"
            ));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(version: &str, app: &str, tag: Option<&str>) -> Versions {
        Versions {
            plugin: "0.1.0".into(),
            chart: Some(ChartVersions {
                dir: PathBuf::from("/charts/fastly-anywhere"),
                name: "fastly-anywhere".into(),
                version: version.into(),
                app_version: Some(app.into()),
                image: Image {
                    repository: "ghcr.io/fastly-anywhere/anywhere".into(),
                    tag: tag.map(String::from),
                    digest: None,
                },
            }),
        }
    }

    #[test]
    fn equal_versions_give_no_warning() {
        let v = chart("0.1.0", "0.1.0", Some("0.1.0"));
        assert!(v.mismatches().is_empty());
        assert_eq!(
            v.render_text(),
            "helm-anywhere 0.1.0\nchart fastly-anywhere 0.1.0 (appVersion 0.1.0) at /charts/fastly-anywhere\nimage ghcr.io/fastly-anywhere/anywhere:0.1.0\n"
        );
    }

    #[test]
    fn differences_are_each_a_warning() {
        let v = chart("0.2.0", "0.2.0", Some("0.1.5"));
        let found = v.mismatches();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("the plugin is 0.1.0 but the chart is 0.2.0"));
        assert!(found[1].starts_with("the image tag is 0.1.5"));
    }

    #[test]
    fn a_digest_pins_the_image_whatever_the_tag() {
        let mut v = chart("0.1.0", "0.1.0", Some("dev"));
        if let Some(c) = &mut v.chart {
            c.image.digest = Some(format!("sha256:{}", "0".repeat(64)));
        }
        assert!(v.mismatches().is_empty());
        assert!(v.render_text().contains("anywhere@sha256:"));
    }
}
