//! `cached` and `xqd`: storage classes and sizes per provider, and the HTTP
//! cache's capacity against the `cached` volume.

use crate::quantity::{format_bytes, parse_quantity};
use crate::schema_check::quantity_help;
use crate::values::{CacheSize, CachedVolumeSettings, Provider, VolumeClaim};
use crate::{Code, Finding, KeyPath, Values};
use std::collections::BTreeSet;

/// The least share of the `cached` volume a capacity in bytes should leave
/// to redb's pages and compaction.
const MIN_HEADROOM: f64 = 0.10;

/// Storage rules for both volumes.
pub fn check(values: &Values, placeholders: &BTreeSet<String>) -> Vec<Finding> {
    let mut found = Vec::new();
    for (name, claim) in [
        ("cached", &values.cached.volume_claim),
        ("xqd", &values.xqd.volume_claim),
    ] {
        check_volume(name, claim, values.provider, placeholders, &mut found);
    }
    check_cache_capacity(&values.cached, placeholders, &mut found);
    found
}

fn check_volume(
    name: &str,
    claim: &VolumeClaim,
    provider: Provider,
    placeholders: &BTreeSet<String>,
    found: &mut Vec<Finding>,
) {
    let class_path = KeyPath::dotted(&format!("{name}.volumeClaim.storageClassName"));
    let class = claim.storage_class_name.as_deref();
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
    let Ok(size) = claim.requests.storage.value() else {
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
                    claim.requests.storage,
                    provider.as_str(),
                    format_bytes(min)
                ),
            )
            .help(format!("request at least {}", format_bytes(min))),
        );
    }
}

/// E0413 / E0414 / W0415: `cached.capacity` is a share of the volume or a
/// quantity (the edge refuses anything else at start), and a quantity fits
/// in the volume with headroom for redb to spare.
fn check_cache_capacity(
    cached: &CachedVolumeSettings,
    placeholders: &BTreeSet<String>,
    found: &mut Vec<Finding>,
) {
    let path = KeyPath::dotted("cached.capacity");
    if placeholders.contains(&path.to_string()) {
        return;
    }
    let capacity = &cached.capacity;
    let bytes = match capacity.size() {
        Some(CacheSize::Bytes(bytes)) => bytes,
        // A share of what the edge finds at start: fits by construction.
        Some(CacheSize::Share(_)) => return,
        None => {
            found.push(
                Finding::new(
                    Code::BadCacheCapacity,
                    path,
                    format!(
                        "cached.capacity `{capacity}` is neither a percentage of the volume (1% to 95%) nor a Kubernetes quantity: the edge would refuse to start"
                    ),
                )
                .help(capacity_help(&capacity.0)),
            );
            return;
        }
    };
    let size_path = KeyPath::dotted("cached.volumeClaim.requests.storage");
    let storage = &cached.volume_claim.requests.storage;
    // A size that does not parse or is not above zero has its own finding.
    let Ok(size) = storage.value() else {
        return;
    };
    if size <= 0.0 {
        return;
    }
    let most = size * (1.0 - MIN_HEADROOM);
    if bytes <= most {
        return;
    }
    let fix = format!(
        "set cached.capacity to {} or less (90% of the volume) or to a share such as 80%, or raise cached.volumeClaim.requests.storage to {} or more",
        round_bytes(most, false),
        round_bytes(bytes / (1.0 - MIN_HEADROOM), true)
    );
    let capacity_shown = shown(&capacity.0, bytes);
    let size_shown = shown(&storage.0, size);
    let finding = if bytes > size {
        Finding::new(
            Code::CacheAboveVolume,
            path,
            format!(
                "cached.capacity {capacity_shown} is larger than the volume: cached.volumeClaim.requests.storage is {size_shown}"
            ),
        )
    } else {
        let headroom = size - bytes;
        Finding::new(
            Code::CacheHeadroomLow,
            path,
            format!(
                "cached.capacity {capacity_shown} leaves {} ({}%) of the {size_shown} volume free, less than 10%: redb needs the room for its pages and compaction, and the filesystem is a little smaller than the volume",
                format_bytes(headroom),
                (headroom / size * 100.0).floor()
            ),
        )
    };
    found.push(finding.help(fix).also_about(size_path));
}

/// The fix for a capacity that is neither a share nor a quantity.
fn capacity_help(text: &str) -> String {
    let text = text.trim();
    if text.ends_with('%') {
        return "set cached.capacity to a whole percentage from 1% to 95%, such as 80% (the default): the rest of the volume is headroom for redb".into();
    }
    match parse_quantity(text) {
        Ok(_) if text.ends_with(['m', 'u', 'n']) => {
            "set cached.capacity in bytes, such as 24Gi or 500Mi: `m`, `u` and `n` are fractions of a byte".into()
        }
        Ok(_) => "set cached.capacity to a size above zero, such as 24Gi, or to a share of the volume such as 80%".into(),
        Err(_) => format!(
            "set cached.capacity to a share of the volume such as 80%, or to a quantity: {}",
            quantity_help(text)
        ),
    }
}

/// A quantity as written, with its size in binary units when they differ
/// (`40G (37.3Gi)`), so that two sizes compare at a glance.
fn shown(written: &str, bytes: f64) -> String {
    let binary = format_bytes(bytes);
    if binary == written.trim() {
        binary
    } else {
        format!("{} ({binary})", written.trim())
    }
}

/// `bytes` in binary units, rounded down to a tenth (a capacity that must
/// not exceed it) or up to a whole unit (a volume that must hold it).
fn round_bytes(bytes: f64, up: bool) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1099511627776.0),
        ("Gi", 1073741824.0),
        ("Mi", 1048576.0),
        ("Ki", 1024.0),
    ];
    let (unit, size) = UNITS
        .into_iter()
        .find(|(_, size)| bytes >= *size)
        .unwrap_or(("", 1.0));
    // The epsilon keeps 27Gi / 0.9 at 30Gi rather than 31Gi.
    let n = bytes / size;
    if up {
        format!("{}{unit}", (n - 1e-9).ceil())
    } else {
        let tenths = (n * 10.0 + 1e-9).floor() / 10.0;
        if tenths.fract() == 0.0 {
            format!("{tenths}{unit}")
        } else {
            format!("{tenths:.1}{unit}")
        }
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

    fn capacity_findings(capacity: &str, size: &str) -> Vec<Finding> {
        let mut v = Values::default();
        v.cached.capacity.0 = capacity.into();
        v.cached.volume_claim.requests.storage.0 = size.into();
        check(&v, &BTreeSet::new())
    }

    fn capacity_codes(capacity: &str, size: &str) -> Vec<&'static str> {
        capacity_findings(capacity, size)
            .iter()
            .map(|f| f.code.as_str())
            .collect()
    }

    #[test]
    fn shares_and_quantities_that_fit_pass() {
        for capacity in ["80%", "1%", "95%", "24Gi", "28.8Gi", "500Mi", "30G"] {
            assert!(
                capacity_codes(capacity, "32Gi").is_empty(),
                "{capacity}: {:?}",
                capacity_codes(capacity, "32Gi")
            );
        }
        assert!(capacity_codes("1T", "2Ti").is_empty());
    }

    #[test]
    fn capacity_neither_share_nor_quantity_is_e0413() {
        for capacity in [
            "0%", "96%", "100%", "80.5%", "%", "24GB", "24gi", "lots", "", "0", "-1Gi", "500m",
        ] {
            assert_eq!(capacity_codes(capacity, "32Gi"), ["E0413"], "{capacity}");
        }
        let f = &capacity_findings("24GB", "32Gi")[0];
        assert_eq!(f.path.to_string(), "cached.capacity");
        assert!(
            f.message.contains("cached.capacity `24GB`"),
            "{}",
            f.message
        );
        let help = f.help.as_deref().unwrap_or_default();
        assert!(help.contains("80%") && help.contains("use 24Gi"), "{help}");
        let help = capacity_findings("99%", "32Gi")[0].help.clone();
        assert!(help.unwrap_or_default().contains("1% to 95%"));
    }

    #[test]
    fn capacity_above_the_volume_is_e0414() {
        assert_eq!(capacity_codes("40Gi", "32Gi"), ["E0414"]);
        assert_eq!(capacity_codes("1T", "512Gi"), ["E0414"]);
        let f = &capacity_findings("40G", "32Gi")[0];
        assert!(
            f.message.contains("40G (37.3Gi)") && f.message.contains("is 32Gi"),
            "{}",
            f.message
        );
        assert_eq!(
            f.help.as_deref(),
            Some(
                "set cached.capacity to 28.8Gi or less (90% of the volume) or to a share such as 80%, or raise cached.volumeClaim.requests.storage to 42Gi or more"
            )
        );
        assert_eq!(
            f.related,
            [KeyPath::dotted("cached.volumeClaim.requests.storage")]
        );
    }

    #[test]
    fn capacity_leaving_under_ten_percent_is_w0415() {
        assert_eq!(capacity_codes("30Gi", "32Gi"), ["W0415"]);
        assert_eq!(capacity_codes("32Gi", "32Gi"), ["W0415"]);
        // Exactly 10% left is enough.
        assert!(capacity_codes("27Gi", "30Gi").is_empty());
        let f = &capacity_findings("30Gi", "32Gi")[0];
        assert!(
            f.message.contains("leaves 2Gi (6%) of the 32Gi volume"),
            "{}",
            f.message
        );
        let help = f.help.as_deref().unwrap_or_default();
        assert!(
            help.contains("28.8Gi or less") && help.contains("34Gi or more"),
            "{help}"
        );
    }

    #[test]
    fn capacity_is_not_compared_with_a_broken_size_or_a_placeholder() {
        assert_eq!(capacity_codes("24Gi", "0"), ["E0103"]);
        let mut v = Values::default();
        v.cached.capacity.0 = "<CACHE CAPACITY>".into();
        let placeholders = BTreeSet::from(["cached.capacity".to_owned()]);
        assert!(check(&v, &placeholders).is_empty());
    }

    #[test]
    fn sizes_round_toward_safety() {
        assert_eq!(round_bytes(0.9 * 32.0 * 1024f64.powi(3), false), "28.8Gi");
        assert_eq!(round_bytes(27.0 * 1024f64.powi(3) / 0.9, true), "30Gi");
        assert_eq!(round_bytes(30.0 * 1024f64.powi(3) / 0.9, true), "34Gi");
        assert_eq!(round_bytes(900.0 * 1024f64.powi(2), false), "900Mi");
    }
}
