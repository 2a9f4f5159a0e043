//! `limits`: limits that contradict one another, and limits that do not fit
//! the pod's memory.
//!
//! The edge container gets `edgeStack.memoryFootprint` less what the loader
//! and agent take ([`SIDECAR_MEMORY_BYTES`]). All running instances share
//! `limits.totalHeapMemory` (75% of the edge container's memory when
//! empty, as the edge reads it from its cgroup), one instance
//! takes up to `limits.heapMemory` of it, and one request may buffer up to
//! `limits.bufferedBytes` in the host.

use super::footprint::SIDECAR_MEMORY_BYTES;
use crate::quantity::{Quantity, format_bytes};
use crate::{Code, Finding, KeyPath, Values};

/// The share of the edge container's memory that instances may use in all
/// when `limits.totalHeapMemory` is empty (the runtime's default,
/// runtime/src/host/heap.rs).
pub const DEFAULT_TOTAL_HEAP_SHARE: f64 = 0.75;

fn path(key: &str) -> KeyPath {
    KeyPath::dotted(&format!("limits.{key}"))
}

/// Limit rules; `reads` says whether the sections a rule reads are free of
/// schema errors.
pub fn check(v: &Values, reads: &dyn Fn(&[&str]) -> bool) -> Vec<Finding> {
    let mut found = Vec::new();
    if reads(&["limits"]) {
        consistent(v, &mut found);
        if reads(&["edgeStack"]) {
            fit_the_pod(v, &mut found);
        }
    }
    found
}

/// Limits against one another.
fn consistent(v: &Values, found: &mut Vec<Finding>) {
    let l = &v.limits;
    if let (Ok(cpu), Ok(wall)) = (l.cpu_time.value(), l.wall_time.value())
        && cpu > wall
    {
        found.push(
            Finding::new(
                Code::LimitsInconsistent,
                path("cpuTime"),
                format!(
                    "CPU time {} is longer than wall time {}: one instance runs on one thread",
                    l.cpu_time, l.wall_time
                ),
            )
            .help("keep cpuTime at or below wallTime"),
        );
    }
    let sizes: [(&str, Option<&Quantity>); 8] = [
        ("heapMemory", Some(&l.heap_memory)),
        ("stack", Some(&l.stack)),
        ("maxHeaderSize", Some(&l.max_header_size)),
        ("packageSize", Some(&l.package_size)),
        ("bufferedBytes", Some(&l.buffered_bytes)),
        ("totalHeapMemory", l.total_heap_memory.as_ref()),
        ("kvValueSize", Some(&l.kv_value_size)),
        ("kvStoreSize", Some(&l.kv_store_size)),
    ];
    for (key, q) in sizes {
        if q.is_some_and(|q| q.value().is_ok_and(|b| b <= 0.0)) {
            found.push(Finding::new(
                Code::OutOfRange,
                path(key),
                "must be above zero",
            ));
        }
    }
    if let (Ok(stack), Ok(heap)) = (l.stack.value(), l.heap_memory.value())
        && stack >= heap
    {
        found.push(
            Finding::new(
                Code::LimitsInconsistent,
                path("stack"),
                format!(
                    "a stack of {} leaves no heap in {}",
                    format_bytes(stack),
                    format_bytes(heap)
                ),
            )
            .help("the stack lives in the heap: keep it well below heapMemory"),
        );
    }
    if let (Ok(value), Ok(store)) = (l.kv_value_size.value(), l.kv_store_size.value())
        && value > store
    {
        found.push(
            Finding::new(
                Code::LimitsInconsistent,
                path("kvValueSize"),
                format!(
                    "a KV value may be {}, more than the {} a whole store may hold (kvStoreSize)",
                    l.kv_value_size, l.kv_store_size
                ),
            )
            .also_about(path("kvStoreSize"))
            .help("keep kvValueSize at or below kvStoreSize"),
        );
    } else if let (Ok(value), Ok(buffered)) = (l.kv_value_size.value(), l.buffered_bytes.value())
        && value > buffered
    {
        found.push(
            Finding::new(
                Code::LimitsInconsistent,
                path("kvValueSize"),
                format!(
                    "a KV value may be {}, but a value is held in memory while it is read or inserted and one request may buffer only {} (bufferedBytes): larger values would fail",
                    l.kv_value_size, l.buffered_bytes
                ),
            )
            .also_about(path("bufferedBytes"))
            .help("keep kvValueSize at or below bufferedBytes"),
        );
    }
}

/// Limits against the edge container's memory.
fn fit_the_pod(v: &Values, found: &mut Vec<Finding>) {
    let l = &v.limits;
    let footprint = &v.edge_stack.memory_footprint;
    let Ok(pod) = footprint.value() else {
        return;
    };
    let edge = pod - SIDECAR_MEMORY_BYTES;
    let edge_text = format!(
        "the edge container's {} (edgeStack.memoryFootprint {footprint} less {} for the loader and agent)",
        format_bytes(edge),
        format_bytes(SIDECAR_MEMORY_BYTES)
    );
    // Below the least the pod needs, E0401 says it already.
    let edge_fits = edge > 0.0;
    let explicit_total = l.total_heap_memory.as_ref().and_then(|q| q.value().ok());
    if edge_fits
        && let (Some(q), Some(total)) = (&l.total_heap_memory, explicit_total)
        && total > edge
    {
        found.push(
            Finding::new(
                Code::LimitDoesNotFitPod,
                path("totalHeapMemory"),
                format!(
                    "instances may hold {q} in all, more than {edge_text}: the pod would be OOM-killed before this limit stops a program"
                ),
            )
            .also_about(KeyPath::dotted("edgeStack.memoryFootprint"))
            .help(format!(
                "leave totalHeapMemory empty (75% of the edge container's memory), set it well below {}, or raise edgeStack.memoryFootprint",
                format_bytes(edge)
            )),
        );
    }
    if edge_fits
        && let Ok(buffered) = l.buffered_bytes.value()
        && buffered > edge
    {
        found.push(
            Finding::new(
                Code::LimitDoesNotFitPod,
                path("bufferedBytes"),
                format!(
                    "one request may buffer {}, more than {edge_text}",
                    l.buffered_bytes
                ),
            )
            .also_about(KeyPath::dotted("edgeStack.memoryFootprint"))
            .help("lower limits.bufferedBytes (Fastly-like default: 64Mi) or raise edgeStack.memoryFootprint"),
        );
    }
    let Ok(heap) = l.heap_memory.value() else {
        return;
    };
    let (total, total_text, total_key) = match (&l.total_heap_memory, explicit_total) {
        (Some(q), Some(total)) => (
            total,
            format!("{q} (limits.totalHeapMemory)"),
            path("totalHeapMemory"),
        ),
        (None, _) if edge_fits => (
            edge * DEFAULT_TOTAL_HEAP_SHARE,
            format!(
                "{} (75% of the edge container's {}, as limits.totalHeapMemory is empty)",
                format_bytes(edge * DEFAULT_TOTAL_HEAP_SHARE),
                format_bytes(edge)
            ),
            KeyPath::dotted("edgeStack.memoryFootprint"),
        ),
        _ => return,
    };
    if heap > total {
        found.push(
            Finding::new(
                Code::HeapAboveTotal,
                path("heapMemory"),
                format!(
                    "one instance may use {}, more than the {total_text} all instances of a pod may use together: its memory could never grow that far",
                    l.heap_memory
                ),
            )
            .also_about(total_key)
            .help("lower limits.heapMemory (Fastly's: 128Mi), or raise limits.totalHeapMemory or edgeStack.memoryFootprint"),
        );
    } else if heap > pod {
        found.push(
            Finding::new(
                Code::LimitAboveFootprint,
                path("heapMemory"),
                format!(
                    "one instance may use {}, more than the pod's {footprint}",
                    l.heap_memory
                ),
            )
            .help("lower limits.heapMemory or raise edgeStack.memoryFootprint"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::GoDuration;

    fn codes(v: &Values) -> Vec<(String, &'static str)> {
        check(v, &|_| true)
            .into_iter()
            .map(|f| (f.path.to_string(), f.code.as_str()))
            .collect()
    }

    fn q(text: &str) -> Quantity {
        Quantity(text.into())
    }

    #[test]
    fn defaults_pass() {
        assert_eq!(codes(&Values::default()), []);
    }

    #[test]
    fn limits_that_contradict_each_other() {
        let mut v = Values::default();
        v.limits.cpu_time = GoDuration("3m".into());
        v.limits.stack = q("128Mi");
        v.limits.kv_value_size = q("2Gi");
        v.limits.buffered_bytes = q("0");
        assert_eq!(
            codes(&v),
            [
                ("limits.cpuTime".into(), "E0610"),
                ("limits.bufferedBytes".into(), "E0103"),
                ("limits.stack".into(), "E0610"),
                ("limits.kvValueSize".into(), "E0610"),
            ]
        );
        // A value that fits the store but not one request's buffers.
        let mut v = Values::default();
        v.limits.kv_value_size = q("100Mi");
        let found = check(&v, &|_| true);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("bufferedBytes"), "{found:?}");
    }

    /// The case: a limit in values that does not fit the pod.
    #[test]
    fn a_limit_that_does_not_fit_the_pod() {
        let mut v = Values::default();
        v.edge_stack.memory_footprint = q("2Gi");
        v.limits.total_heap_memory = Some(q("4Gi"));
        v.limits.buffered_bytes = q("3Gi");
        v.limits.heap_memory = q("3Gi");
        assert_eq!(
            codes(&v),
            [
                ("limits.totalHeapMemory".into(), "E0612"),
                ("limits.bufferedBytes".into(), "E0612"),
                ("limits.heapMemory".into(), "W0611"),
            ]
        );
        let f = &check(&v, &|_| true)[0];
        assert_eq!(
            f.message,
            "instances may hold 4Gi in all, more than the edge container's 1.8Gi (edgeStack.memoryFootprint 2Gi less 192Mi for the loader and agent): the pod would be OOM-killed before this limit stops a program"
        );
    }

    #[test]
    fn an_instance_heap_above_the_total_heap() {
        // The default total: 75% of the edge container's 1Gi - 192Mi = 832Mi.
        let mut v = Values::default();
        v.edge_stack.memory_footprint = q("1Gi");
        v.limits.heap_memory = q("640Mi");
        assert_eq!(codes(&v), [("limits.heapMemory".into(), "E0613")]);
        let f = &check(&v, &|_| true)[0];
        assert!(
            f.message
                .contains("624Mi (75% of the edge container's 832Mi"),
            "{}",
            f.message
        );
        v.limits.heap_memory = q("624Mi");
        assert_eq!(codes(&v), []);
        v.limits.heap_memory = q("640Mi");
        // Above the pod too: one finding, the error.
        v.limits.heap_memory = q("2Gi");
        assert_eq!(codes(&v), [("limits.heapMemory".into(), "E0613")]);
        // An explicit total.
        let mut v = Values::default();
        v.limits.total_heap_memory = Some(q("256Mi"));
        v.limits.heap_memory = q("512Mi");
        assert_eq!(codes(&v), [("limits.heapMemory".into(), "E0613")]);
        v.limits.heap_memory = q("256Mi");
        assert_eq!(codes(&v), []);
    }

    #[test]
    fn large_limits_that_fit_pass() {
        let mut v = Values::default();
        v.edge_stack.memory_footprint = q("64Gi");
        v.limits.total_heap_memory = Some(q("48Gi"));
        v.limits.heap_memory = q("4Gi");
        v.limits.buffered_bytes = q("1Gi");
        v.limits.kv_value_size = q("512Mi");
        v.limits.kv_store_size = q("100Gi");
        assert_eq!(codes(&v), []);
    }

    #[test]
    fn the_pod_is_only_checked_when_its_footprint_is_sound() {
        let mut v = Values::default();
        v.limits.total_heap_memory = Some(q("64Gi"));
        let found = check(&v, &|s| !s.contains(&"edgeStack"));
        assert!(found.is_empty(), "{found:?}");
    }
}
