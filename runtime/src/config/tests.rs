//! fastly.toml parsing, good files and bad.

use super::*;
use std::path::Path;

fn parse_in(dir: &Path, text: &str) -> Result<FastlyToml, ConfigError> {
    let path = dir.join("fastly.toml");
    std::fs::write(&path, text).unwrap();
    parse_fastly_toml(&path, text)
}

#[test]
fn a_full_local_server_section() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cfg.json"), r#"{"a": "1"}"#).unwrap();
    std::fs::write(
        dir.path().join("kv.json"),
        r#"{"k": "v", "m": {"data": "d", "metadata": "meta"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("secrets.json"), r#"{"s": "x"}"#).unwrap();
    std::fs::write(dir.path().join("blob.bin"), b"\x00\x01").unwrap();
    std::fs::write(
        dir.path().join("acl.json"),
        r#"{"entries": [{"prefix": "10.0.0.0/8", "action": "ALLOW"}]}"#,
    )
    .unwrap();
    let parsed = parse_in(
        dir.path(),
        r#"
manifest_version = 3
name = "demo"
[local_server.backends.origin]
url = "https://origin.example:8443/prefix"
override_host = "www.example"
use_sni = false
first_byte_timeout_ms = 2000
[local_server.config_stores.inline]
format = "inline-toml"
contents = { greeting = "hi" }
[local_server.config_stores.fromjson]
format = "json"
file = "cfg.json"
[local_server.dictionaries.legacy]
contents = { x = "y" }
[local_server.kv_stores]
inline = [{ key = "a", data = "b", metadata = "c" }, { key = "blob", file = "blob.bin" }]
fromjson = { file = "kv.json", format = "json" }
[local_server.secret_stores]
s1 = [{ key = "k", data = "v" }]
s2 = { file = "secrets.json", format = "json" }
[local_server.geolocation]
use_default_loopback = false
[local_server.geolocation.addresses."10.1.2.3"]
city = "X"
[local_server.acls]
allow = { file = "acl.json" }
"#,
    )
    .unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let c = parsed.config;
    assert_eq!(c.name.as_deref(), Some("demo"));
    let b = &c.backends["origin"];
    assert!(b.is_tls());
    assert_eq!((b.host(), b.port()), ("origin.example", 8443));
    assert_eq!(b.override_host.as_deref(), Some("www.example"));
    assert!(!b.tls.use_sni);
    assert_eq!(b.first_byte_timeout, std::time::Duration::from_secs(2));
    assert_eq!(c.config_stores["inline"]["greeting"], "hi");
    assert_eq!(c.config_stores["fromjson"]["a"], "1");
    assert_eq!(c.config_stores["legacy"]["x"], "y");
    assert_eq!(
        c.kv_stores["inline"].entries["a"].metadata.as_deref(),
        Some("c")
    );
    assert_eq!(c.kv_stores["inline"].entries["blob"].data, b"\x00\x01");
    assert_eq!(
        c.kv_stores["fromjson"].entries["m"].metadata.as_deref(),
        Some("meta")
    );
    assert_eq!(c.secret_stores["s1"].secrets["k"], b"v");
    assert_eq!(c.secret_stores["s2"].secrets["s"], b"x");
    assert_eq!(
        c.geolocation.lookup("10.1.2.3".parse().unwrap()).unwrap()["city"],
        "X"
    );
    assert!(
        c.geolocation.lookup("127.0.0.1".parse().unwrap()).is_none(),
        "default loopback is off"
    );
    assert_eq!(
        c.acls["allow"]
            .lookup("10.9.9.9".parse().unwrap())
            .unwrap()
            .action,
        AclAction::Allow
    );
}

#[test]
fn unknown_keys_are_warnings_that_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let parsed = parse_in(
        dir.path(),
        "name = \"x\"\nsurprise = 1\n[local_server]\nbackendz = {}\n[local_server.backends.o]\nurl = \"http://o\"\ncolor = \"red\"\n",
    )
    .unwrap();
    let w = parsed.warnings.join("\n");
    assert!(w.contains(": surprise: unknown key"), "{w}");
    assert!(w.contains(": local_server.backendz: unknown key"), "{w}");
    assert!(
        w.contains(": local_server.backends.o.color: unknown key"),
        "{w}"
    );
}

#[test]
fn bad_files_name_the_file_the_place_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "name = \"x\"\n[local_server\n",
            "fastly.toml: line 2, column",
        ),
        (
            "[local_server.backends.o]\noverride_host = \"h\"\n",
            "local_server.backends.o: has no `url`",
        ),
        (
            "[local_server.backends.o]\nurl = \"ftp://x\"\n",
            "must start with http:// or https://",
        ),
        (
            "[local_server.config_stores.c]\nformat = \"json\"\nfile = \"missing.json\"\n",
            "local_server.config_stores.c.file: cannot read",
        ),
        (
            "[local_server.config_stores.c]\nformat = \"yaml\"\n",
            "is not a format; use \"inline-toml\" or \"json\"",
        ),
        (
            "[local_server.kv_stores]\ns = [{ key = \"k\" }]\n",
            "needs exactly one of `data` or `file`",
        ),
        (
            "[local_server.secret_stores]\ns = [{ key = \"k\", env = \"ANYWHERE_SURELY_UNSET\" }]\n",
            "environment variable ANYWHERE_SURELY_UNSET is not set",
        ),
        (
            "[local_server.acls]\na = 3\n",
            "local_server.acls.a: must be a file name",
        ),
    ];
    for (text, want) in cases {
        let err = parse_in(dir.path(), text).unwrap_err().to_string();
        assert!(err.contains(want), "for {text:?}: {err}");
        assert!(err.contains("fastly.toml"), "{err}");
    }
    std::fs::write(
        dir.path().join("acl.json"),
        r#"{"entries": [{"prefix": "nonsense", "action": "BLOCK"}]}"#,
    )
    .unwrap();
    let err = parse_in(dir.path(), "[local_server.acls]\na = \"acl.json\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acl.json") && err.contains("`nonsense` is not an IP prefix"),
        "{err}"
    );
}

#[test]
fn kv_and_secret_entries_take_bytes_from_their_own_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob.bin"), b"from file").unwrap();
    // Setting a variable is unsafe in edition 2024: read one that is set.
    let path_var = std::env::var("PATH").unwrap();
    let parsed = parse_in(
        dir.path(),
        r#"
[local_server.kv_stores]
k = [{ key = "p", path = "blob.bin" }, { key = "e", data = "inline", env = "PATH" }]
[local_server.secret_stores]
s = [{ key = "e", env = "PATH" }, { key = "f", file = "blob.bin" }]
"#,
    )
    .unwrap();
    let kv = &parsed.config.kv_stores["k"].entries;
    assert_eq!(kv["p"].data, b"from file", "KV entries accept `path`");
    assert_eq!(kv["e"].data, b"inline", "KV entries ignore `env`");
    let secrets = &parsed.config.secret_stores["s"].secrets;
    assert_eq!(secrets["e"], path_var.as_bytes());
    assert_eq!(secrets["f"], b"from file");
}

#[test]
fn kv_and_secret_store_mistakes_keep_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("num.json"), r#"{"n": 1}"#).unwrap();
    let cases = [
        (
            "[local_server.kv_stores]\ns = 3\n",
            "local_server.kv_stores.s: must be an array or a table, found integer",
        ),
        (
            "[local_server.object_stores]\ns = { file = \"num.json\" }\n",
            "local_server.object_stores.s: give an array of { key, data | file, metadata } or { file = \"x.json\", format = \"json\" }",
        ),
        (
            "[local_server.kv_stores]\ns = { file = \"num.json\", format = \"json\" }\n",
            "local_server.kv_stores.s.file: entry `n` must be a string or {\"data\", \"metadata\"}",
        ),
        (
            "[local_server.kv_stores]\ns = [{ data = \"d\" }]\n",
            "local_server.kv_stores.s[0]: has no `key`",
        ),
        (
            "[local_server.kv_stores]\ns = [{ key = \"k\", path = \"missing.bin\" }]\n",
            "local_server.kv_stores.s[0].file: cannot read",
        ),
        (
            "[local_server.kv_stores]\ns = [{ key = \"k\", data = \"d\", metadata = 1 }]\n",
            "local_server.kv_stores.s[0].metadata: must be a string, found integer",
        ),
        (
            "[local_server.secret_stores]\ns = { file = \"num.json\" }\n",
            "local_server.secret_stores.s: give an array of { key, data | file | env } or { file = \"x.json\", format = \"json\" }",
        ),
        (
            "[local_server.secret_stores]\ns = { file = \"num.json\", format = \"json\" }\n",
            "local_server.secret_stores.s.file: secret `n` must be a string",
        ),
        (
            "[local_server.secret_stores]\ns = [{ key = \"k\", data = \"d\", env = \"PATH\" }]\n",
            "local_server.secret_stores.s[0]: needs exactly one of `data`, `file` or `env`",
        ),
        (
            "[local_server.secret_stores]\ns = [{ key = \"k\", path = \"num.json\" }]\n",
            "local_server.secret_stores.s[0]: needs exactly one of `data`, `file` or `env`",
        ),
        (
            "[local_server.secret_stores]\ns = [3]\n",
            "local_server.secret_stores.s[0]: must be a table, found integer",
        ),
    ];
    for (text, want) in cases {
        let err = parse_in(dir.path(), text).unwrap_err().to_string();
        assert!(err.contains(want), "for {text:?}: {err}");
    }
}
