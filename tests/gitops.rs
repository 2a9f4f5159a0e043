//! `helm anywhere render`: the presets in gitops/ are exactly what render
//! makes (golden files), every custom resource passes the real CRDs in
//! ../shared/crds, tokens never reach the output, re-renders are
//! byte-identical, `--check` catches drift, and `validate` reads values
//! inside GitOps manifests.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use e2e::{documents, plugin_binary, repo, run, text};
use helm_anywhere::gitops::crds::CrdSchemas;
use std::path::Path;
use std::process::{Command, Output};

/// Each preset: controller, folder (gitops/<controller>/<folder>, values in
/// gitops/providers/<folder>.yaml) and provider.
const PRESETS: [(&str, &str, &str); 6] = [
    ("argo", "gke", "gke"),
    ("argo", "ack", "ack"),
    ("argo", "gke-offline", "gke"),
    ("flux", "gke", "gke"),
    ("flux", "ack", "ack"),
    ("flux", "gke-offline", "gke"),
];

fn render(args: &[&str], cwd: &Path) -> Output {
    run(Command::new(plugin_binary())
        .current_dir(cwd)
        .arg("render")
        .args(args))
}

fn crds() -> CrdSchemas {
    CrdSchemas::from_dir(&repo().parent().unwrap().join("shared/crds")).unwrap()
}

#[test]
fn presets_are_what_render_makes() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (gitops, preset, provider) in PRESETS {
        let dir = format!("gitops/{gitops}/{preset}");
        let values = format!("gitops/providers/{preset}.yaml");
        let mut args = vec![
            "--gitops",
            gitops,
            "--provider",
            provider,
            "-f",
            &values,
            "--output-dir",
            &dir,
        ];
        if !update {
            args.push("--check");
        }
        let out = render(&args, &repo());
        assert!(
            out.status.success(),
            "{dir} is out of date (UPDATE_GOLDEN=1 rewrites it): {:?}",
            text(&out)
        );
        // Every preset object passes its CRD.
        for entry in std::fs::read_dir(repo().join(&dir)).unwrap() {
            let yaml = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for object in documents(&yaml) {
                if object["apiVersion"] == "v1" {
                    continue; // the Argo CD repository Secret: no CRD
                }
                assert_eq!(
                    crds().check(&object).unwrap(),
                    Vec::<String>::new(),
                    "{dir}"
                );
            }
        }
    }
}

#[test]
fn argo_presets_register_the_chart_registry_without_credentials() {
    for preset in ["gke", "ack", "gke-offline"] {
        let yaml =
            std::fs::read_to_string(repo().join(format!("gitops/argo/{preset}/repository.yaml")))
                .unwrap();
        let docs = documents(&yaml);
        let secret = &docs[0];
        assert_eq!(secret["kind"], "Secret", "{preset}");
        assert_eq!(
            secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"], "repository",
            "{preset}"
        );
        let data = &secret["stringData"];
        assert_eq!(data["type"], "helm");
        assert_eq!(data["enableOCI"], "true");
        assert_eq!(data["url"], "ghcr.io/fastly-anywhere/charts", "{preset}");
        assert!(data.get("password").is_none() && data.get("username").is_none());
        // The Application points at the same registry.
        let app = &documents(
            &std::fs::read_to_string(repo().join(format!("gitops/argo/{preset}/application.yaml")))
                .unwrap(),
        )[0];
        assert_eq!(app["spec"]["source"]["repoURL"], data["url"]);
    }
}

#[test]
fn plain_http_registries_are_marked_for_both_controllers() {
    let dir = tempfile::tempdir().unwrap();
    let values = repo().join("gitops/providers/gke-offline.yaml");
    for gitops in ["flux", "argo"] {
        let out_dir = dir.path().join(gitops);
        let out = render(
            &[
                "--gitops",
                gitops,
                "--provider",
                "gke",
                "-f",
                values.to_str().unwrap(),
                "--chart-ref",
                "oci://registry.internal.example:5000/charts/fastly-anywhere",
                "--plain-http",
                "--output-dir",
                out_dir.to_str().unwrap(),
            ],
            &repo(),
        );
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        // The registry Secret for the image is named in the instructions.
        assert!(
            stderr.contains(
                "kubectl create secret docker-registry regcred --namespace fastly-anywhere"
            ),
            "{stderr}"
        );
        let read = |name: &str| {
            let text = std::fs::read_to_string(out_dir.join(name)).unwrap();
            assert!(text.ends_with('\n'), "{name} ends without a newline");
            documents(&text).remove(0)
        };
        if gitops == "flux" {
            assert_eq!(read("ocirepository.yaml")["spec"]["insecure"], true);
        } else {
            assert_eq!(
                read("repository.yaml")["stringData"]["insecureOCIForceHttp"],
                "true"
            );
            assert!(
                stderr.contains("does not pass it to `helm pull`"),
                "{stderr}"
            );
        }
    }
    // Without the flag nothing is marked insecure.
    let out = render(
        &[
            "--gitops",
            "flux",
            "--provider",
            "gke",
            "-f",
            values.to_str().unwrap(),
        ],
        &repo(),
    );
    assert!(!text(&out).0.contains("insecure"));
}

const DOCUMENTED_WITH_TOKENS: &str = "\
edgeStack:
  cpuFootprint: 4
  memoryFootprint: 8Gi
  replicas: 3
cached:
  volumeClaim:
    requests:
      storage: 32Gi
    storageClassName: STORAGE_CLASS
xqd:
  volumeClaim:
    requests:
      storage: 32Gi
    storageClassName: STORAGE_CLASS
bootstrap:
  token: bootstrap-secret-value-0001
fastly_key: automation-secret-value-0002
";

#[test]
fn documented_values_with_inline_tokens_render_without_them() {
    for (gitops, provider, class, kinds) in [
        (
            "flux",
            "ack",
            "alicloud-disk-topology-alltype",
            vec!["OCIRepository", "HelmRelease"],
        ),
        ("argo", "gke", "premium-rwo", vec!["Application", "Secret"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("values.yaml"),
            DOCUMENTED_WITH_TOKENS.replace("STORAGE_CLASS", class),
        )
        .unwrap();
        let out = render(
            &[
                "--gitops",
                gitops,
                "--provider",
                provider,
                "-f",
                "values.yaml",
                "--output-dir",
                "out",
                "--secret-file",
                "tokens.yaml",
            ],
            dir.path(),
        );
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{gitops}/{provider}: {stderr}");
        assert!(
            stderr.contains("kubectl create secret generic fastly-anywhere-tokens"),
            "{stderr}"
        );
        assert!(!stderr.contains("secret-value"), "tokens printed: {stderr}");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir.path().join("out")).unwrap() {
            let yaml = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(
                !yaml.contains("secret-value"),
                "a token reached the manifests:\n{yaml}"
            );
            for object in documents(&yaml) {
                found.push(object["kind"].as_str().unwrap().to_owned());
                if object["apiVersion"] == "v1" {
                    continue; // the Argo CD repository Secret: no CRD, no values
                }
                assert_eq!(crds().check(&object).unwrap(), Vec::<String>::new());
                let values = if gitops == "argo" {
                    &object["spec"]["source"]["helm"]["valuesObject"]
                } else {
                    &object["spec"]["values"]
                };
                if !values.is_null() {
                    assert_eq!(values["existingSecret"]["name"], "fastly-anywhere-tokens");
                    assert_eq!(values["provider"], provider);
                }
            }
        }
        found.sort();
        let mut expected: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        expected.sort();
        assert_eq!(found, expected);
        // The tokens go to the separate Secret manifest, and only there.
        let secret = std::fs::read_to_string(dir.path().join("tokens.yaml")).unwrap();
        assert!(secret.contains("bootstrap-token: bootstrap-secret-value-0001"));
        assert!(secret.contains("fastly-key: automation-secret-value-0002"));
    }
}

#[test]
fn re_renders_are_identical_and_check_finds_drift() {
    let dir = tempfile::tempdir().unwrap();
    let values = repo().join("gitops/providers/gke.yaml");
    let values = values.to_str().unwrap();
    let first = render(
        &["--gitops", "flux", "--provider", "gke", "-f", values],
        dir.path(),
    );
    let second = render(
        &["--gitops", "flux", "--provider", "gke", "-f", values],
        dir.path(),
    );
    assert!(first.status.success());
    assert_eq!(first.stdout, second.stdout);

    let out = render(
        &[
            "--gitops",
            "flux",
            "--provider",
            "gke",
            "-f",
            values,
            "--output-dir",
            "out",
        ],
        dir.path(),
    );
    assert!(out.status.success());
    let check = |extra: &[&str]| {
        let mut args = vec![
            "--gitops",
            "flux",
            "--provider",
            "gke",
            "-f",
            values,
            "--output-dir",
            "out",
            "--check",
        ];
        args.extend_from_slice(extra);
        render(&args, dir.path()).status.code()
    };
    assert_eq!(check(&[]), Some(0));
    assert_eq!(
        check(&["--set", "edgeStack.replicas=5"]),
        Some(1),
        "a changed value is drift"
    );
    let file = dir.path().join("out/helmrelease.yaml");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("retries: 3", "retries: 4");
    std::fs::write(&file, edited).unwrap();
    assert_eq!(check(&[]), Some(1), "a hand edit is drift");
}

#[test]
fn bad_values_and_conflicts_render_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "edgeStack:\n  replicas: three\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ack.yaml"), "provider: ack\n").unwrap();
    let out = render(
        &[
            "--gitops",
            "argo",
            "--provider",
            "gke",
            "-f",
            "bad.yaml",
            "--output-dir",
            "out",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).0.contains("bad.yaml:2:13: error[E0101]"),
        "{:?}",
        text(&out)
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for invalid values"
    );
    let out = render(
        &["--gitops", "argo", "--provider", "gke", "-f", "ack.yaml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("provider: ack"), "{:?}", text(&out));
    let out = render(
        &[
            "--gitops",
            "flux",
            "--provider",
            "gke",
            "--chart-ref",
            "ghcr.io/x/fastly-anywhere",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_reads_values_inside_rendered_manifests() {
    for (gitops, preset, provider) in PRESETS {
        let dir = repo().join(format!("gitops/{gitops}/{preset}"));
        let file = if gitops == "argo" {
            "application.yaml"
        } else {
            "helmrelease.yaml"
        };
        let out = run(Command::new(plugin_binary())
            .current_dir(&dir)
            .args(["validate", "--strict", "-f", file]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{gitops}/{preset} ({provider}): {:?}",
            text(&out)
        );
    }
}

/// The values embedded in a rendered manifest.
fn embedded_values(object: &serde_json::Value) -> &serde_json::Value {
    if object["kind"] == "Application" {
        &object["spec"]["source"]["helm"]["valuesObject"]
    } else {
        &object["spec"]["values"]
    }
}

#[test]
fn offline_presets_name_no_tokens_secret() {
    for gitops in ["argo", "flux"] {
        let dir = repo().join(format!("gitops/{gitops}/gke-offline"));
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let yaml = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for object in documents(&yaml) {
                let values = embedded_values(&object);
                if values.is_null() {
                    continue;
                }
                assert_eq!(values["controlPlane"]["mode"], "offline");
                assert!(values.get("existingSecret").is_none(), "{gitops}: {values}");
                checked += 1;
            }
        }
        assert_eq!(checked, 1, "{gitops}");
    }
}

#[test]
fn offline_values_render_without_the_secret_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("values.yaml"),
        "controlPlane: {mode: offline}\nfastly_key: automation-secret-value-0002\n",
    )
    .unwrap();
    let out = render(
        &["--gitops", "flux", "--provider", "gke", "-f", "values.yaml"],
        dir.path(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("secret-value") && !stderr.contains("secret-value"));
    assert!(!stdout.contains("existingSecret"), "{stdout}");
    assert!(
        !stderr.contains("kubectl create secret generic"),
        "offline mode needs no tokens Secret: {stderr}"
    );
    // The image is pulled with the registry Secret in every mode.
    assert!(
        stderr.contains("kubectl create secret docker-registry regcred"),
        "{stderr}"
    );
    assert!(stderr.contains("left out of the manifests"), "{stderr}");
}
