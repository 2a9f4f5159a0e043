//! The checks on `--selector` and `--namespace` before the agent asks the
//! Kubernetes API anything.

use super::AgentError;

/// The label every POP pod carries and the helm test pod does not.
pub const POP_COMPONENT: &str = "app.kubernetes.io/component=pop";

/// Refuses a selector that does not require `app.kubernetes.io/component=pop`:
/// without it the helm test pod (same name and instance labels) would be
/// listed as a peer and own a share of the cache keys.
pub fn check_selector(selector: &str) -> Result<(), AgentError> {
    let requires_pop = requirements(selector).any(|r| {
        let (key, value) = match r.split_once("==").or_else(|| r.split_once('=')) {
            Some(kv) => kv,
            None => return false,
        };
        key.trim() == "app.kubernetes.io/component" && value.trim() == "pop"
    });
    if requires_pop {
        Ok(())
    } else {
        Err(AgentError::Selector {
            selector: selector.to_owned(),
            message: format!(
                "must include {POP_COMPONENT}, or the helm test pod and any other pod of the \
                 release become peers; add \",{POP_COMPONENT}\""
            ),
        })
    }
}

/// The comma-separated requirements of a label selector, trimmed; commas
/// inside a set (`key in (a,b)`) do not split.
fn requirements(selector: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0u32;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// Refuses a namespace that is not a DNS label. The usual cause is a
/// missing downward-API variable: Kubernetes leaves `$(POD_NAMESPACE)` as
/// it is when the variable is not defined.
pub fn check_namespace(namespace: &str) -> Result<(), AgentError> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(AgentError::Namespace {
            namespace: namespace.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_charts_selector_passes() {
        let s = "app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=pop,app.kubernetes.io/component=pop";
        check_selector(s).unwrap();
        check_selector("app.kubernetes.io/component == pop").unwrap();
        check_selector("tier in (a,b), app.kubernetes.io/component=pop").unwrap();
    }

    #[test]
    fn a_selector_without_the_component_is_refused_with_the_fix() {
        for s in [
            "app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=x",
            "",
            "app.kubernetes.io/component!=pop",
            "app.kubernetes.io/component=test",
            "app.kubernetes.io/component in (pop,test)",
        ] {
            let e = check_selector(s).unwrap_err().to_string();
            assert!(
                e.contains("must include app.kubernetes.io/component=pop"),
                "{s}: {e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn namespaces() {
        check_namespace("default").unwrap();
        check_namespace("fastly-anywhere-1").unwrap();
        for bad in [
            "",
            "$(POD_NAMESPACE)",
            "Default",
            "-x",
            "a".repeat(64).as_str(),
        ] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
    }
}
