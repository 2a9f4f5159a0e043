//! The `helm test` pod: `anywhere probe` with every replica's /readyz, and a
//! request through the h2o Service with a Host a service answers.

use super::{documented, render_ok};
use e2e::{documents, helms};
use serde_json::Value;

const SERVICES: &str = "\
services:
  - name: site
    domains: [\"DOMAIN\", other.example.com]
    package:
      oci: oci://registry.example.com/site:1.0.0
";

fn probe_args(values: &str, extra: &[&str]) -> Vec<Vec<String>> {
    helms()
        .into_iter()
        .map(|(_, helm)| {
            let dir = tempfile::tempdir().unwrap();
            let objects = documents(&render_ok(&helm, dir.path(), values, extra));
            let pod: &Value = objects
                .iter()
                .find(|o| o["kind"] == "Pod")
                .expect("the helm test pod");
            assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
            pod["spec"]["containers"][0]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn readyz(i: usize) -> String {
    format!("--readyz=http://fastly-anywhere-{i}.fastly-anywhere-peers:9090/readyz")
}

#[test]
fn without_services_only_readiness_is_checked() {
    for args in probe_args(&documented("gke", "premium-rwo"), &[]) {
        assert_eq!(
            args,
            [
                "probe".to_owned(),
                readyz(0),
                readyz(1),
                readyz(2),
                "--timeout-seconds=60".to_owned()
            ]
        );
    }
}

#[test]
fn the_host_is_the_first_domain_of_the_first_service() {
    let url = "--url=http://fastly-anywhere-h2o.fastly-anywhere.svc:80/";
    for (domain, extra, host) in [
        ("www.example.com", &[][..], "www.example.com"),
        ("*.example.com", &[][..], "helm-test.example.com"),
        (
            "www.example.com",
            &["--set", "helmTest.host=other.example.com"][..],
            "other.example.com",
        ),
    ] {
        let values = documented("gke", "premium-rwo") + &SERVICES.replace("DOMAIN", domain);
        for args in probe_args(&values, extra) {
            assert_eq!(
                args[4..],
                [
                    url.to_owned(),
                    format!("--host={host}"),
                    "--timeout-seconds=60".to_owned()
                ],
                "{domain} {extra:?}"
            );
        }
    }
}

#[test]
fn a_host_alone_is_enough_for_services_from_the_api() {
    let args = probe_args(
        &documented("gke", "premium-rwo"),
        &[
            "--set",
            "helmTest.host=shop.example.com,edgeStack.replicas=2",
        ],
    );
    for args in args {
        assert_eq!(args[1..3], [readyz(0), readyz(1)]);
        assert_eq!(args[4], "--host=shop.example.com");
    }
}
