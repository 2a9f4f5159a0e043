//! Tests of the Compute hostcalls through Fastly's Rust SDK (`fastly`
//! 0.9.4), built as a test binary for wasm32-wasi by
//! tests/guests/build-rust and run by `anywhere run`:
//!
//! ```text
//! anywhere run -C target/guests/rust-sdk-tests.fastly.toml target/guests/rust-sdk-tests.wasm
//! ```
//!
//! The values checked are those of this crate's fastly.toml
//! (`[local_server]`). `fails_on_purpose` is ignored unless asked for
//! (`-- --ignored fails_on_purpose`): it lets a runner check that a failing
//! test gives a non-zero exit status.
//!
//! wasm32-wasi panics abort: a failing test ends the whole run at once (a
//! wasm trap: `anywhere run` reports it and exits with 1), without
//! libtest's summary, and libtest never prints what it captured. So every
//! test starts with `setup()`, whose panic hook writes the message straight
//! to stderr.

#[cfg(test)]
mod tests {
    use fastly::handle::{BodyHandle, RequestHandle, ResponseHandle};
    use fastly::http::header::{HeaderName, HeaderValue};
    use fastly::http::{Method, StatusCode, Url};
    #[allow(deprecated)]
    use fastly::Dictionary;
    use fastly::{Body, ConfigStore, KVStore, Request, SecretStore};
    use std::io::Write;
    use std::net::IpAddr;

    /// Panic messages go to stderr itself, not to libtest's capture (lost
    /// when the panic aborts).
    fn setup() {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let _ = writeln!(std::io::stderr(), "\ntest failed: {}", info);
            }));
        });
    }

    #[test]
    #[ignore = "fails on purpose: run with `--ignored fails_on_purpose`"]
    fn fails_on_purpose() {
        setup();
        panic!("failing on purpose, as `--ignored fails_on_purpose` asks");
    }

    #[test]
    fn args_start_with_the_program() {
        setup();
        let args: Vec<String> = std::env::args().collect();
        assert!(
            args.first().map_or(false, |a| a.ends_with(".wasm")),
            "the first argument should be the module's path: {:?}",
            args
        );
    }

    #[test]
    fn platform_environment() {
        setup();
        for name in [
            "FASTLY_CACHE_GENERATION",
            "FASTLY_CUSTOMER_ID",
            "FASTLY_HOSTNAME",
            "FASTLY_IS_STAGING",
            "FASTLY_POP",
            "FASTLY_REGION",
            "FASTLY_SERVICE_ID",
            "FASTLY_SERVICE_VERSION",
            "FASTLY_TRACE_ID",
        ] {
            assert!(std::env::var_os(name).is_some(), "{} is not set", name);
        }
        assert_eq!(std::env::var("FASTLY_HOSTNAME").unwrap(), "localhost");
        assert_eq!(std::env::var("FASTLY_IS_STAGING").unwrap(), "0");
        assert_eq!(std::env::var("FASTLY_SERVICE_VERSION").unwrap(), "0");
        let trace = std::env::var("FASTLY_TRACE_ID").unwrap();
        assert!(
            trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
            "FASTLY_TRACE_ID = {:?}, want 32 hex digits",
            trace
        );
        let generation = std::env::var("FASTLY_CACHE_GENERATION").unwrap();
        assert!(
            generation.parse::<u64>().is_ok(),
            "FASTLY_CACHE_GENERATION = {:?}",
            generation
        );
    }

    /// The SDK's `Request` (kept on the guest side until it is sent).
    #[test]
    fn request_builder() {
        setup();
        let mut req = Request::get("http://example.com/path?q=1").with_header("X-Test", "one");
        req.append_header("x-test", "two");
        assert_eq!(req.get_header_str("X-TEST"), Some("one"));
        assert_eq!(req.get_header_all_str("x-test"), vec!["one", "two"]);
        req.set_header("X-Test", "three");
        assert_eq!(req.get_header_all_str("x-test"), vec!["three"]);
        assert_eq!(req.get_method_str(), "GET");
        assert_eq!(req.get_url_str(), "http://example.com/path?q=1");
        assert_eq!(req.remove_header("x-test").unwrap(), "three");
        assert_eq!(req.get_header_str("x-test"), None);
    }

    /// A request in the host (`fastly_http_req`): headers, method, URL.
    #[test]
    fn request_handle_headers() {
        setup();
        let mut h = RequestHandle::new();
        let name = HeaderName::from_static("x-test");
        h.insert_header(&name, &HeaderValue::from_static("one"));
        h.append_header(&name, &HeaderValue::from_static("two"));
        let upper = HeaderName::from_bytes(b"X-Test").unwrap();
        assert_eq!(
            h.get_header_value(&upper, 1024).unwrap().unwrap(),
            "one",
            "the first value, whatever the name's case"
        );
        let all: Vec<HeaderValue> = h
            .get_header_values(&name, 1024)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all, vec!["one", "two"]);
        // A value longer than the buffer: an error saying how much is needed.
        let long = "v".repeat(1000);
        h.insert_header(&name, &HeaderValue::from_str(&long).unwrap());
        let err = h.get_header_value(&name, 10).unwrap_err();
        assert_eq!(err.needed_buf_size, 1000);
        assert_eq!(h.get_header_value(&name, 1000).unwrap().unwrap(), long.as_str());
        assert!(h.remove_header(&name));
        assert!(h.get_header_value(&name, 1024).unwrap_or(None).is_none());
        assert!(!h.remove_header(&name), "removing an absent header says so");

        assert_eq!(h.get_method(64).unwrap(), Method::GET);
        h.set_method(&Method::PUT);
        assert_eq!(h.get_method(64).unwrap(), Method::PUT);
        let url = Url::parse("https://www.example.org/a/b?c=d").unwrap();
        h.set_url(&url);
        assert_eq!(h.get_url(1024).unwrap(), url);
    }

    /// A response in the host (`fastly_http_resp`).
    #[test]
    fn response_handle() {
        setup();
        let mut h = ResponseHandle::new();
        assert_eq!(h.get_status(), StatusCode::OK);
        h.set_status(StatusCode::IM_A_TEAPOT);
        assert_eq!(h.get_status(), StatusCode::IM_A_TEAPOT);
        let name = HeaderName::from_static("content-type");
        h.insert_header(&name, &HeaderValue::from_static("text/plain"));
        assert_eq!(
            h.get_header_value(&name, 1024).unwrap().unwrap(),
            "text/plain"
        );
    }

    /// A body in the host (`fastly_http_body`): written, appended, read.
    #[test]
    #[allow(deprecated)] // BodyHandle::write_bytes
    fn bodies() {
        setup();
        let mut body = Body::new();
        body.write_str("hello, ");
        let mut more = BodyHandle::new();
        more.write_bytes(b"world");
        body.append(more.into());
        assert_eq!(body.into_string(), "hello, world");
    }

    /// `anywhere run` gives the program a placeholder client request.
    #[test]
    fn client_request() {
        setup();
        let req = Request::from_client();
        assert_eq!(*req.get_method(), Method::GET);
        assert_eq!(req.get_url_str(), "http://example.com/");
        assert_eq!(
            req.get_client_ip_addr(),
            Some("127.0.0.1".parse::<IpAddr>().unwrap())
        );
        assert_eq!(req.into_body().into_bytes(), b"");
    }

    #[test]
    fn config_store() {
        setup();
        let store = ConfigStore::open("settings");
        assert_eq!(
            store.get("greeting").as_deref(),
            Some("hello from the config store")
        );
        assert_eq!(store.get("empty").as_deref(), Some(""));
        assert_eq!(store.get("missing"), None);
        assert!(store.contains("greeting"));
        assert!(ConfigStore::try_open("no-such-store").is_err());
    }

    #[test]
    #[allow(deprecated)] // Dictionary: ConfigStore's old name, and its own hostcalls in later SDKs
    fn dictionary() {
        setup();
        let dict = Dictionary::open("legacy");
        assert_eq!(dict.get("colour").as_deref(), Some("blue"));
        assert_eq!(dict.get("missing"), None);
        // One namespace with the config stores.
        assert_eq!(
            Dictionary::open("settings").get("greeting").as_deref(),
            Some("hello from the config store")
        );
    }

    #[test]
    fn kv_store() {
        setup();
        let store = KVStore::open("things")
            .expect("opening the KV store")
            .expect("fastly.toml defines the KV store `things`");
        assert_eq!(
            store.lookup_str("apple").unwrap().as_deref(),
            Some("red fruit")
        );
        assert_eq!(store.lookup_str("sky").unwrap().as_deref(), Some("blue"));
        // fastly 0.9 looks up with `fastly_object_store::lookup`: a missing
        // key is status OK with the body handle left invalid (as Viceroy
        // answers), which the SDK turns into Ok(None).
        assert!(store.lookup("missing").unwrap().is_none());
        // Not a store: Ok(None), or the error INVAL makes (KVStoreNotFound).
        assert!(
            !matches!(KVStore::open("no-such-store"), Ok(Some(_))),
            "opened a KV store fastly.toml does not define"
        );
    }

    #[test]
    fn secret_store() {
        setup();
        let store = SecretStore::open("credentials").expect("opening the secret store");
        let secret = store.get("api-key").expect("the secret `api-key`");
        assert_eq!(&secret.plaintext()[..], b"s3cr3t");
        assert!(store.get("missing").is_none());
        assert!(SecretStore::open("no-such-store").is_err());
    }

    #[test]
    fn backends() {
        setup();
        let origin = fastly::Backend::from_name("origin").unwrap();
        assert!(origin.exists());
        assert!(origin.is_ssl());
        assert_eq!(origin.get_port(), 8443);
        assert_eq!(origin.get_host(), "origin.example");
        assert!(!fastly::Backend::from_name("no-such-backend").unwrap().exists());
    }

    #[test]
    fn geolocation() {
        setup();
        let geo = fastly::geo::geo_lookup("192.0.2.10".parse().unwrap())
            .expect("fastly.toml has a record for 192.0.2.10");
        assert_eq!(geo.city(), "Testville");
        assert_eq!(geo.country_code(), "NL");
        assert_eq!(geo.country_name(), "Netherlands");
        assert_eq!(geo.continent().as_code(), "EU");
        assert_eq!(geo.as_number(), 64500);
        assert_eq!(geo.as_name(), "Anywhere Test AS");
        assert_eq!(geo.region(), Some("NH"));
        assert!((geo.latitude() - 52.37).abs() < 1e-9);
        // Loopback addresses have a built-in record.
        assert!(fastly::geo::geo_lookup("127.0.0.1".parse().unwrap()).is_some());
        // Addresses fastly.toml does not list have none.
        assert!(fastly::geo::geo_lookup("203.0.113.9".parse().unwrap()).is_none());
    }
}
