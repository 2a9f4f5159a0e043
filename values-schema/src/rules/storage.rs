//! `cached` and `xqd`: storage classes and sizes per provider.

use crate::quantity::format_bytes;
use crate::values::{Provider, VolumeSettings};
use crate::{Code, Finding, KeyPath, Values};
use std::collections::BTreeSet;

/// Storage rules for both volumes.
pub fn check(values: &Values, placeholders: &BTreeSet<String>) -> Vec<Finding> {
    let mut found = Vec::new();
    for (name, volume) in [("cached", &values.cached), ("xqd", &values.xqd)] {
        check_volume(name, volume, values.provider, placeholders, &mut found);
    }
    found
}

fn check_volume(
    name: &str,
    volume: &VolumeSettings,
    provider: Provider,
    placeholders: &BTreeSet<String>,
    found: &mut Vec<Finding>,
) {
    let class_path = KeyPath::dotted(&format!("{name}.volumeClaim.storageClassName"));
    let class = volume.volume_claim.storage_class_name.as_deref();
    match class {
        None if provider == Provider::Generic => found.push(
            Finding::new(
                Code::StorageClassDefault,
                class_path,
                "no storage class: the cluster's default StorageClass is used",
            )
            .help("name a storage class, or make sure the cluster has a default one (`kubectl get storageclass`)"),
        ),
        Some(c) if !placeholders.contains(&class_path.to_string()) => {
            if let Some(owner) = provider_of_class(c)
                && owner != provider
                && provider != Provider::Generic
            {
                found.push(
                    Finding::new(
                        Code::StorageClassMismatch,
                        class_path,
                        format!(
                            "`{c}` is a storage class of {}, but provider is `{}`",
                            owner.as_str(),
                            provider.as_str()
                        ),
                    )
                    .help(format!(
                        "use `{}` or remove the key for the provider default",
                        provider.default_storage_class().unwrap_or("a class of this cluster")
                    )),
                );
            }
        }
        _ => {}
    }
    let size_path = KeyPath::dotted(&format!("{name}.volumeClaim.requests.storage"));
    let Ok(size) = volume.volume_claim.requests.storage.value() else {
        return;
    };
    if size <= 0.0 {
        found.push(
            Finding::new(
                Code::OutOfRange,
                size_path,
                "the volume size must be above zero",
            )
            .help("give a size such as 32Gi"),
        );
    } else if let Some(min) = provider.minimum_disk_bytes()
        && size < min
        && class.is_none_or(|c| Some(c) == provider.default_storage_class())
    {
        found.push(
            Finding::new(
                Code::VolumeTooSmall,
                size_path,
                format!(
                    "{} is below the smallest disk {} provisions ({})",
                    volume.volume_claim.requests.storage,
                    provider.as_str(),
                    format_bytes(min)
                ),
            )
            .help(format!("request at least {}", format_bytes(min))),
        );
    }
}

/// The provider a well-known storage class belongs to.
fn provider_of_class(class: &str) -> Option<Provider> {
    if class.starts_with("alicloud-") {
        Some(Provider::Ack)
    } else if matches!(
        class,
        "premium-rwo" | "standard-rwo" | "standard" | "premium-rwx" | "standard-rwx"
    ) {
        Some(Provider::Gke)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(provider: Provider, class: Option<&str>, size: &str) -> Vec<&'static str> {
        let mut v = Values {
            provider,
            ..Values::default()
        };
        v.cached.volume_claim.storage_class_name = class.map(String::from);
        v.cached.volume_claim.requests.storage.0 = size.into();
        check(&v, &BTreeSet::new())
            .iter()
            .map(|f| f.code.as_str())
            .collect()
    }

    #[test]
    fn classes_and_sizes_per_provider() {
        assert!(codes(Provider::Gke, None, "32Gi").is_empty());
        assert!(codes(Provider::Gke, Some("premium-rwo"), "32Gi").is_empty());
        assert_eq!(
            codes(
                Provider::Gke,
                Some("alicloud-disk-topology-alltype"),
                "32Gi"
            ),
            ["W0411"]
        );
        assert_eq!(codes(Provider::Ack, Some("premium-rwo"), "32Gi"), ["W0411"]);
        assert_eq!(codes(Provider::Ack, None, "10Gi"), ["W0412"]);
        assert_eq!(codes(Provider::Generic, None, "1Gi"), ["W0410", "W0410"]);
        assert_eq!(codes(Provider::Gke, None, "0"), ["E0103"]);
        assert!(codes(Provider::Ack, Some("my-class"), "5Gi").is_empty());
    }
}
