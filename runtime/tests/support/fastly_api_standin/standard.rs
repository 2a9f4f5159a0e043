//! [`Fixture::standard`](super::Fixture::standard): the tokens and services
//! the stand-in's documentation describes.

use super::{
    BackendFixture, EXPIRED_TOKEN, Fixture, GOOD_TOKEN, PACKAGE_A_HASHSUM, SERVICE_A, SERVICE_B,
    ServiceFixture, TokenFixture, UNDER_SCOPED_TOKEN, VersionFixture, hash_hex,
};
use std::collections::BTreeMap;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn token(token: &str, name: &str, scope: &str, expires_at: Option<&str>) -> TokenFixture {
    TokenFixture {
        token: token.into(),
        id: format!("tok{}", &hash_hex(token.as_bytes())[..19]),
        name: name.into(),
        scope: scope.into(),
        services: Vec::new(),
        expires_at: expires_at.map(Into::into),
    }
}

impl Fixture {
    /// The three known tokens and the two services described at the top.
    pub fn standard() -> Fixture {
        let backend = |name: &str, address: &str, port, use_ssl| BackendFixture {
            name: name.into(),
            address: address.into(),
            port,
            use_ssl,
            override_host: use_ssl.then(|| address.to_string()),
        };
        let version_a = VersionFixture {
            domains: vec!["a.example.com".into(), "www.a.example.com".into()],
            backends: vec![
                backend("origin", "origin.example.com", 443, true),
                backend("api", "10.0.0.7", 8080, false),
            ],
            dictionaries: BTreeMap::from([(
                "settings".into(),
                map(&[("greeting", "hello"), ("color", "blue")]),
            )]),
            config_stores: BTreeMap::from([("flags".into(), map(&[("beta", "on")]))]),
            kv_stores: vec!["sessions".into()],
            package_hashsum: Some(PACKAGE_A_HASHSUM.into()),
        };
        let version_b = VersionFixture {
            domains: vec!["b.example.com".into()],
            backends: vec![backend("origin", "b-origin.example.com", 443, true)],
            package_hashsum: Some("b2".repeat(64)),
            ..VersionFixture::default()
        };
        let service = |id: &str, name: &str, version: VersionFixture| ServiceFixture {
            id: id.into(),
            name: name.into(),
            kind: "wasm".into(),
            active: Some(1),
            versions: BTreeMap::from([(1, version)]),
        };
        Fixture {
            tokens: vec![
                token(GOOD_TOKEN, "anywhere-loader", "global:read", None),
                token(
                    EXPIRED_TOKEN,
                    "old-loader",
                    "global:read",
                    Some("2020-01-31T12:00:00Z"),
                ),
                token(UNDER_SCOPED_TOKEN, "purger", "purge_select", None),
            ],
            services: vec![
                service(SERVICE_A, "shop", version_a),
                service(SERVICE_B, "blog", version_b),
            ],
        }
    }
}
