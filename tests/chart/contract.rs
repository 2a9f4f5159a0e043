//! The arguments each container gets: the contract between the chart and the
//! `anywhere` subcommands (runtime/src/main.rs parses exactly these flags).

use super::render_objects;
use e2e::{helms, object};
use serde_json::Value;

fn pod_spec(objects: &[Value]) -> Value {
    object(objects, "StatefulSet", "fastly-anywhere")["spec"]["template"]["spec"].clone()
}

fn container<'a>(spec: &'a Value, list: &str, name: &str) -> &'a Value {
    spec[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

fn args(c: &Value) -> Vec<String> {
    c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_container_gets_the_runtime_arguments() {
    for (label, helm) in helms() {
        let objects = render_objects(&helm, "gke", "premium-rwo", &[]);
        let spec = pod_spec(&objects);
        let bootstrap = container(&spec, "initContainers", "bootstrap");
        assert_eq!(
            args(bootstrap),
            [
                "bootstrap",
                "--config=/etc/fastly-anywhere/edge.yaml",
                "--credentials-dir=/var/run/fastly-anywhere/credentials",
                "--bootstrap-token-file=/var/run/fastly-anywhere/tokens/bootstrap-token",
                "--fastly-key-file=/var/run/fastly-anywhere/tokens/fastly-key",
            ],
            "{label}"
        );
        let config_mount = bootstrap["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "config")
            .expect("the bootstrap reads edge.yaml");
        assert_eq!(config_mount["mountPath"], "/etc/fastly-anywhere");
        assert_eq!(config_mount["readOnly"], true);
        assert_eq!(
            args(container(&spec, "containers", "loader")),
            [
                "loader",
                "--config=/etc/fastly-anywhere/edge.yaml",
                "--xqd-dir=/var/lib/fastly-anywhere/xqd",
                "--credentials-dir=/var/run/fastly-anywhere/credentials",
                "--admin-addr=0.0.0.0:9091",
                "--log-level=info",
                "--log-format=auto",
            ],
            "{label}"
        );
        assert_eq!(
            args(container(&spec, "containers", "agent")),
            [
                "agent",
                "--namespace=$(POD_NAMESPACE)",
                "--selector=app.kubernetes.io/name=fastly-anywhere,app.kubernetes.io/instance=fastly-anywhere,app.kubernetes.io/component=pop",
                "--peers-file=/var/run/fastly-anywhere/peers/peers.json",
                "--admin-addr=0.0.0.0:9092",
                "--log-level=info",
                "--log-format=auto",
            ],
            "{label}"
        );
        assert_eq!(
            args(container(&spec, "containers", "edge")),
            [
                "edge",
                "--config=/etc/fastly-anywhere/edge.yaml",
                "--xqd-dir=/var/lib/fastly-anywhere/xqd",
                "--cache-dir=/var/lib/fastly-anywhere/cached",
                "--cache-capacity=80%",
                "--peers-file=/var/run/fastly-anywhere/peers/peers.json",
                "--tls-dir=/etc/fastly-anywhere/mtls",
                "--private-dir=/var/lib/fastly-anywhere/cached/edge-private",
                "--http-addr=0.0.0.0:8080",
                "--cluster-addr=0.0.0.0:7443",
                "--admin-addr=0.0.0.0:9090",
                "--log-level=info",
                "--log-format=auto",
                "--drain-delay-seconds=10",
                "--grace-seconds=135",
            ],
            "{label}"
        );
        assert_eq!(spec["terminationGracePeriodSeconds"], 150, "{label}");
        assert!(
            spec["initContainers"]
                .as_array()
                .unwrap()
                .iter()
                .chain(spec["containers"].as_array().unwrap())
                .all(|c| c.get("lifecycle").is_none()),
            "{label}: the edge drains itself on SIGTERM, no preStop hook"
        );
    }
}

#[test]
fn the_edge_grace_is_what_the_drain_delay_leaves() {
    let (_, helm) = &helms()[1];
    let edge_flag = |extra: &[&str], flag: &str| {
        let spec = pod_spec(&render_objects(helm, "gke", "premium-rwo", extra));
        args(container(&spec, "containers", "edge"))
            .into_iter()
            .find_map(|a| a.strip_prefix(flag).map(String::from))
            .unwrap()
    };
    let set = [
        "--set",
        "terminationGracePeriodSeconds=200,drainDelaySeconds=45",
    ];
    assert_eq!(edge_flag(&set, "--drain-delay-seconds="), "45");
    assert_eq!(edge_flag(&set, "--grace-seconds="), "150");
    // Inconsistent values (validate says E0670) still give the edge a second.
    let set = [
        "--set",
        "terminationGracePeriodSeconds=20,drainDelaySeconds=30",
    ];
    assert_eq!(edge_flag(&set, "--grace-seconds="), "1");
}

#[test]
fn the_edge_gets_the_cache_capacity_as_written() {
    for (label, helm) in helms() {
        for capacity in ["24Gi", "95%"] {
            let set = format!("cached.capacity={capacity}");
            let spec = pod_spec(&render_objects(
                &helm,
                "gke",
                "premium-rwo",
                &["--set-string", &set],
            ));
            let flag = format!("--cache-capacity={capacity}");
            assert!(
                args(container(&spec, "containers", "edge")).contains(&flag),
                "{label}: {flag}"
            );
        }
    }
}

#[test]
fn the_edge_config_carries_the_control_plane() {
    for (label, helm) in helms() {
        let objects = render_objects(
            &helm,
            "gke",
            "premium-rwo",
            &[
                "--set",
                "controlPlane.packageRegistry=oci://registry.example.com/compute,controlPlane.pollSeconds=60",
            ],
        );
        let map = object(&objects, "ConfigMap", "fastly-anywhere-edge");
        let edge: Value = serde_yaml::from_str(map["data"]["edge.yaml"].as_str().unwrap()).unwrap();
        let keys: Vec<&str> = edge
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "clientAddress",
                "controlPlane",
                "egress",
                "limits",
                "observability",
                "peersService",
                "pop",
                "services"
            ],
            "{label}"
        );
        let cp = &edge["controlPlane"];
        assert_eq!(cp["mode"], "fastly");
        assert_eq!(cp["apiUrl"], "https://api.fastly.com");
        assert_eq!(cp["pollSeconds"], 60);
        assert_eq!(cp["packageRegistry"], "oci://registry.example.com/compute");
        assert_eq!(cp["insecureRegistries"], serde_json::json!([]));
    }
}

#[test]
fn the_edge_config_carries_egress_and_client_address() {
    for (label, helm) in helms() {
        let edge_yaml = |extra: &[&str]| -> Value {
            let objects = render_objects(&helm, "gke", "premium-rwo", extra);
            let map = object(&objects, "ConfigMap", "fastly-anywhere-edge");
            serde_yaml::from_str(map["data"]["edge.yaml"].as_str().unwrap()).unwrap()
        };
        // The chart's defaults, as values.yaml writes them.
        let edge = edge_yaml(&[]);
        let values: Value = serde_yaml::from_str(
            &std::fs::read_to_string(e2e::chart().join("values.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!(edge["egress"], values["egress"], "{label}");
        assert_eq!(edge["clientAddress"], values["clientAddress"], "{label}");
        assert_eq!(edge["egress"]["dynamicBackends"], false);
        assert_eq!(edge["egress"]["deniedCidrs"][0], "10.0.0.0/8");
        // And what values say.
        let edge = edge_yaml(&[
            "--set",
            "egress.dynamicBackends=true,egress.allowedCidrs={10.20.0.0/16},clientAddress.trustedProxies={10.8.0.0/14},services[0].name=site,services[0].domains[0]=site.example,services[0].package.oci=oci://r.example/site:1,services[0].dynamicBackends=false",
        ]);
        let egress = &edge["egress"];
        assert_eq!(egress["dynamicBackends"], true, "{label}");
        assert_eq!(egress["allowedCidrs"], serde_json::json!(["10.20.0.0/16"]));
        assert_eq!(
            egress["deniedCidrs"], values["egress"]["deniedCidrs"],
            "the defaults stay"
        );
        assert_eq!(egress["networkPolicy"], false);
        assert_eq!(
            edge["clientAddress"]["trustedProxies"],
            serde_json::json!(["10.8.0.0/14"])
        );
        assert_eq!(edge["services"][0]["dynamicBackends"], false, "{label}");
    }
}

#[test]
fn the_edge_config_names_the_pop() {
    for (label, helm) in helms() {
        let pop = |extra: &[&str]| -> Value {
            let objects = render_objects(&helm, "gke", "premium-rwo", extra);
            let map = object(&objects, "ConfigMap", "fastly-anywhere-edge");
            let edge: Value =
                serde_yaml::from_str(map["data"]["edge.yaml"].as_str().unwrap()).unwrap();
            edge["pop"].clone()
        };
        // By default: the release name in capitals, region Anywhere.
        let default = pop(&[]);
        let name = default["name"].as_str().unwrap();
        assert!(
            !name.is_empty() && name == name.to_uppercase(),
            "{label}: {default}"
        );
        assert_eq!(default["region"], "Anywhere", "{label}");
        assert_eq!(default["customerId"], Value::Null, "{label}");
        let set = pop(&[
            "--set",
            "pop.name=AMS,pop.region=Europe,pop.customerId=c0ffee",
        ]);
        assert_eq!(
            set,
            serde_json::json!({"name": "AMS", "region": "Europe", "customerId": "c0ffee"}),
            "{label}"
        );
    }
}

/// The key sealing precompiled modules lives on the `cached` volume: only
/// the edge mounts it (the loader, which writes `xqd`, must not reach the
/// key), and it outlives the pod, so a new pod reuses the modules.
#[test]
fn only_the_edge_mounts_its_private_directory() {
    for (label, helm) in helms() {
        let spec = pod_spec(&render_objects(&helm, "gke", "premium-rwo", &[]));
        let all = spec["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(spec["containers"].as_array().unwrap());
        for c in all {
            let mounts: Vec<&Value> = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["name"] == "cached")
                .collect();
            if c["name"] == "edge" {
                assert_eq!(mounts.len(), 1, "{label}");
                assert_eq!(mounts[0]["mountPath"], "/var/lib/fastly-anywhere/cached");
                assert!(mounts[0].get("readOnly").is_none(), "the edge writes it");
                assert!(
                    args(c).contains(
                        &"--private-dir=/var/lib/fastly-anywhere/cached/edge-private".to_owned()
                    ),
                    "{label}"
                );
            } else {
                assert!(mounts.is_empty(), "{label}: {} mounts cached", c["name"]);
            }
        }
    }
}

#[test]
fn the_edge_exports_spans_only_when_a_collector_is_given() {
    for (label, helm) in helms() {
        let edge_args = |extra: &[&str]| {
            let objects = render_objects(&helm, "gke", "premium-rwo", extra);
            args(container(&pod_spec(&objects), "containers", "edge"))
        };
        let without = edge_args(&[]);
        assert!(
            !without.iter().any(|a| a.starts_with("--otlp-endpoint")),
            "{label}: {without:?}"
        );
        let with = edge_args(&[
            "--set",
            "observability.otlpEndpoint=http://otel.monitoring:4318",
        ]);
        assert!(
            with.contains(&"--otlp-endpoint=http://otel.monitoring:4318".to_owned()),
            "{label}: {with:?}"
        );
    }
}
