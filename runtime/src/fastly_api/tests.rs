//! The client against recorded answer shapes and against the stand-in the
//! integration tests use (tests/support/fastly_api_standin.rs).

use super::wire::{error_message, link_has_next};
use super::*;
use std::collections::BTreeMap;

#[path = "../../tests/support/fastly_api_standin.rs"]
mod standin;
use standin::{Fixture, GOOD_TOKEN, SERVICE_A, StandIn, UNDER_SCOPED_TOKEN, UNKNOWN_TOKEN};

fn client(api: &StandIn, token: &str) -> Client {
    Client::new(&api.base_url, Secret::new(token)).unwrap()
}

#[test]
fn parses_a_token_as_the_reference_shows_it() {
    let json = r#"{"id":"5Yo3XXnrQpjc20u0ybrf2g","user_id":"x","name":"loader","scope":"global:read purge_select",
        "services":null,"created_at":"2016-06-22T03:19:48+00:00","expires_at":"2026-07-28T19:24:50+00:00","ip":null}"#;
    let t: TokenInfo = serde_json::from_str(json).unwrap();
    assert_eq!(t.name, "loader");
    assert!(t.can_read_config());
    assert!(t.services.is_empty());
    assert_eq!(t.expires_at.unwrap().as_str(), "2026-07-28T19:24:50+00:00");
    let purge: TokenInfo =
        serde_json::from_str(r#"{"id":"1","scope":"purge_select purge_all","expires_at":null}"#)
            .unwrap();
    assert!(!purge.can_read_config());
    assert_eq!(purge.expires_at, None);
}

#[test]
fn parses_backends_old_and_new() {
    // The older API sent numbers and booleans as strings.
    let old = r#"{"name":"b","address":null,"hostname":"origin.example","ipv4":"127.0.0.1","port":"9092",
        "use_ssl":"0","connect_timeout":"1000","override_host":""}"#;
    let b: Backend = serde_json::from_str(old).unwrap();
    assert_eq!(b.address.as_deref(), Some("origin.example"));
    assert_eq!(
        (b.port, b.use_ssl, b.connect_timeout_ms),
        (Some(9092), false, Some(1000))
    );
    assert_eq!(b.override_host, None);
    let new = r#"{"name":"b","address":"10.0.0.1","port":443,"use_ssl":true,"ssl_cert_hostname":"o.example"}"#;
    let b: Backend = serde_json::from_str(new).unwrap();
    assert_eq!(
        (b.address.as_deref(), b.port, b.use_ssl),
        (Some("10.0.0.1"), Some(443), true)
    );
    assert_eq!(b.ssl_cert_hostname.as_deref(), Some("o.example"));
    assert!(serde_json::from_str::<Backend>(r#"{"name":"b","port":"http"}"#).is_err());
}

#[test]
fn parses_details_without_an_active_version_and_packages() {
    let d: ServiceDetails = serde_json::from_str(
        r#"{"id":"s","name":"n","type":"wasm","active_version":null,"version":{"number":3}}"#,
    )
    .unwrap();
    assert_eq!(d.active, None);
    let p: PackageInfo = serde_json::from_str(
        r#"{"id":"p","metadata":{"hashsum":"ab","size":12,"language":"rust","name":"x"}}"#,
    )
    .unwrap();
    assert_eq!(
        (p.metadata.hashsum.as_deref(), p.metadata.size),
        (Some("ab"), Some(12))
    );
}

#[test]
fn reads_fastly_error_bodies_and_link_headers() {
    assert_eq!(
        error_message(br#"{"msg":"Provided credentials are missing or invalid"}"#),
        "Provided credentials are missing or invalid"
    );
    assert_eq!(
        error_message(br#"{"msg":"Bad request","detail":"x"}"#),
        "Bad request (x)"
    );
    assert_eq!(
        error_message(b"<html>\n oops</html>"),
        "<html>  oops</html>"
    );
    assert_eq!(error_message(b""), "no details");
    assert!(link_has_next(
        r#"</service?page=2>; rel="next", </service?page=9>; rel="last""#
    ));
    assert!(!link_has_next(r#"</service?page=1>; rel="prev""#));
}

#[test]
fn checks_base_urls_and_ids() {
    let secret = || Secret::new("t");
    assert_eq!(
        Client::new("https://api.fastly.com/", secret())
            .unwrap()
            .base_url(),
        "https://api.fastly.com"
    );
    for bad in [
        "ftp://x",
        "https://user:pw@api.fastly.com",
        "api.fastly.com",
        "https://x/?a=1",
    ] {
        assert!(
            matches!(Client::new(bad, secret()), Err(ApiError::BadBaseUrl { .. })),
            "{bad}"
        );
    }
    let c = Client::new("https://api.fastly.com", secret()).unwrap();
    assert!(!format!("{c:?}").contains("\"t\""));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(c.package("../tokens", 1)).unwrap_err();
    assert!(matches!(e, ApiError::BadId { .. }), "{e}");
}

#[tokio::test]
async fn token_self_and_refusals() {
    let api = StandIn::start(Fixture::standard());
    let info = client(&api, GOOD_TOKEN).token_self().await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.scope.as_str()),
        ("anywhere-loader", "global:read")
    );
    let e = client(&api, UNKNOWN_TOKEN).token_self().await.unwrap_err();
    assert!(
        matches!(e, ApiError::Refused { status: 401, .. }) && !e.is_transient(),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("Provided credentials are missing or invalid"),
        "{e}"
    );
    assert!(!e.to_string().contains(UNKNOWN_TOKEN));
    let e = client(&api, UNDER_SCOPED_TOKEN)
        .list_services(None)
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Refused { status: 403, .. }), "{e}");
}

#[tokio::test]
async fn conditional_polling_of_services_and_details() {
    let api = StandIn::start(Fixture::standard());
    let c = client(&api, GOOD_TOKEN);
    let Conditional::Modified(list, Some(etag)) = c.list_services(None).await.unwrap() else {
        panic!("a first answer with an ETag")
    };
    assert_eq!(
        list.iter().map(|s| s.version).collect::<Vec<_>>(),
        [Some(1), Some(1)]
    );
    assert!(list.iter().all(ServiceSummary::is_compute));
    assert!(
        c.list_services(Some(&etag))
            .await
            .unwrap()
            .is_not_modified()
    );
    assert_eq!(
        (
            api.request_count("/service"),
            api.not_modified_count("/service")
        ),
        (2, 1)
    );

    let details = format!("/service/{SERVICE_A}/details");
    let Conditional::Modified(d, Some(tag)) = c.service_details(SERVICE_A, None).await.unwrap()
    else {
        panic!("details with an ETag")
    };
    assert_eq!(d.active.as_ref().map(|v| v.number), Some(1));
    assert!(
        c.service_details(SERVICE_A, Some(&tag))
            .await
            .unwrap()
            .is_not_modified()
    );
    api.set_active_version(SERVICE_A, 2);
    let changed = c
        .service_details(SERVICE_A, Some(&tag))
        .await
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(changed.active.map(|v| v.number), Some(2));
    assert_eq!(
        (
            api.request_count(&details),
            api.not_modified_count(&details)
        ),
        (3, 1)
    );
    let list = c
        .list_services(Some(&etag))
        .await
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(list[0].version, Some(2));
}

#[tokio::test]
async fn pages_through_long_lists_without_an_etag() {
    let mut fixture = Fixture::standard();
    let template = fixture.services[1].clone();
    for n in 0..(PER_PAGE + 20) {
        fixture.services.push(standin::ServiceFixture {
            id: format!("gen{n}"),
            ..template.clone()
        });
    }
    let api = StandIn::start(fixture);
    let all = client(&api, GOOD_TOKEN).list_services(None).await.unwrap();
    let Conditional::Modified(list, etag) = all else {
        panic!("a list")
    };
    assert_eq!((list.len(), etag), (PER_PAGE + 22, None));
    assert_eq!(api.request_count("/service"), 2);
}

#[tokio::test]
async fn snapshot_gathers_the_active_version() {
    let api = StandIn::start(Fixture::standard());
    let s = client(&api, GOOD_TOKEN)
        .service_snapshot(SERVICE_A)
        .await
        .unwrap();
    assert_eq!((s.name.as_str(), s.version), ("shop", 1));
    assert_eq!(s.domains, ["a.example.com", "www.a.example.com"]);
    assert_eq!(
        s.backends
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        ["origin", "api"]
    );
    assert_eq!(s.backends[0].port, Some(443));
    let names: Vec<&String> = s.config_stores.keys().collect();
    assert_eq!(names, ["flags", "settings"]);
    assert_eq!(
        s.config_stores["settings"],
        BTreeMap::from([
            ("color".into(), "blue".into()),
            ("greeting".into(), "hello".into())
        ])
    );
    assert_eq!(s.kv_stores, ["sessions"]);
    let package = s.package.unwrap();
    assert_eq!(package.hashsum.as_deref(), Some(standin::PACKAGE_A_HASHSUM));
}

#[tokio::test]
async fn transient_failures_are_told_apart() {
    let api = StandIn::start(Fixture::standard());
    let c = client(&api, GOOD_TOKEN);
    api.fail_with(Some(503));
    let e = c.token_self().await.unwrap_err();
    assert!(
        matches!(e, ApiError::Server { status: 503, .. }) && e.is_transient(),
        "{e}"
    );
    api.fail_with(Some(429));
    assert!(matches!(
        c.token_self().await,
        Err(ApiError::RateLimited { .. })
    ));
    api.fail_with(None);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = Client::new(&url, Secret::new(GOOD_TOKEN))
        .unwrap()
        .token_self()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ApiError::Unreachable { .. }) && e.is_transient(),
        "{e}"
    );
    assert!(e.to_string().contains(&url), "{e}");
}
