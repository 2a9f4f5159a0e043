//! `edgeStack`: footprints against the documented recommendation and the
//! least the pod's containers need.

use crate::quantity::format_bytes;
use crate::values::EdgeStack;
use crate::{Code, Finding, KeyPath};

/// CPU the loader and agent containers take from the footprint, in millicores
/// (the chart gives the edge container the rest).
pub const SIDECAR_CPU_MILLIS: f64 = 150.0;
/// Memory the loader and agent containers take from the footprint.
pub const SIDECAR_MEMORY_BYTES: f64 = 192.0 * 1024.0 * 1024.0;
/// The least the edge container can work with.
pub const EDGE_MIN_CPU_MILLIS: f64 = 500.0;
/// The least memory the edge container can work with.
pub const EDGE_MIN_MEMORY_BYTES: f64 = 512.0 * 1024.0 * 1024.0;
/// The documented recommendation per worker node: 4 vCPUs.
pub const RECOMMENDED_CPUS: f64 = 4.0;
/// The documented recommendation per worker node: 8 GB of RAM.
pub const RECOMMENDED_MEMORY_BYTES: f64 = 8.0 * 1024.0 * 1024.0 * 1024.0;

/// Footprint rules.
pub fn check(edge: &EdgeStack) -> Vec<Finding> {
    let mut found = Vec::new();
    let cpu_path = KeyPath::dotted("edgeStack.cpuFootprint");
    let cpu = edge.cpu_footprint.0;
    let min_cpu = (SIDECAR_CPU_MILLIS + EDGE_MIN_CPU_MILLIS) / 1000.0;
    if cpu < min_cpu {
        found.push(
            Finding::new(
                Code::FootprintTooSmall,
                cpu_path,
                format!("{cpu} vCPU cannot run the pod: its containers need at least {min_cpu}"),
            )
            .help(format!(
                "give at least {min_cpu}; {RECOMMENDED_CPUS} is recommended"
            )),
        );
    } else if cpu < RECOMMENDED_CPUS {
        found.push(
            Finding::new(
                Code::FootprintBelowRecommended,
                cpu_path,
                format!("{cpu} vCPU is below the recommended {RECOMMENDED_CPUS}"),
            )
            .help("fine for a trial; give 4 or more for production"),
        );
    }
    let mem_path = KeyPath::dotted("edgeStack.memoryFootprint");
    if let Ok(mem) = edge.memory_footprint.value() {
        let min_mem = SIDECAR_MEMORY_BYTES + EDGE_MIN_MEMORY_BYTES;
        if mem < min_mem {
            found.push(
                Finding::new(
                    Code::FootprintTooSmall,
                    mem_path,
                    format!(
                        "{} cannot run the pod: its containers need at least {}",
                        edge.memory_footprint,
                        format_bytes(min_mem)
                    ),
                )
                .help("give at least 1Gi; 8Gi is recommended"),
            );
        } else if mem < RECOMMENDED_MEMORY_BYTES {
            found.push(
                Finding::new(
                    Code::FootprintBelowRecommended,
                    mem_path,
                    format!("{} is below the recommended 8Gi", edge.memory_footprint),
                )
                .help("fine for a trial; give 8Gi or more for production"),
            );
        }
    }
    if edge.replicas == 1 {
        found.push(
            Finding::new(
                Code::SingleReplica,
                KeyPath::dotted("edgeStack.replicas"),
                "a single replica: every restart, upgrade or node drain takes the POP offline",
            )
            .help("run at least 2 replicas (3 are documented)"),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::Quantity;
    use crate::values::CpuCount;

    fn codes(cpu: f64, mem: &str, replicas: u32) -> Vec<&'static str> {
        let e = EdgeStack {
            cpu_footprint: CpuCount(cpu),
            memory_footprint: Quantity(mem.into()),
            replicas,
        };
        check(&e).iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn compares_with_the_recommendation() {
        assert!(codes(4.0, "8Gi", 3).is_empty());
        assert_eq!(codes(2.0, "4Gi", 3), ["W0400", "W0400"]);
        assert_eq!(codes(0.5, "512Mi", 1), ["E0401", "E0401", "W0402"]);
        assert!(codes(16.0, "64Gi", 2).is_empty());
    }
}
