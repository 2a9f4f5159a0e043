//! `fastly_http_downstream`: the client request's metadata by request
//! handle, and the reusable-sandbox calls (`next_request`). TLS ends at the
//! Ingress, so every TLS and fingerprint field is absent (`NONE`).

use super::{hostcall, hostcall_async, split};
use crate::engine::state::GuestState;
use crate::host::HostError;
use std::time::Duration;
use wasmtime::Linker;

pub(super) fn add(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    hostcall!(
        l,
        "fastly_http_downstream",
        "next_request",
        |c, mask, options, out| {
            let (mut m, st) = split(&mut c)?;
            let timeout = if mask & 2 != 0 {
                Some(Duration::from_millis(m.read_u64(options)?))
            } else {
                None
            };
            let h = st.session.next_request(timeout)?;
            m.u32(out, h)
        }
    );
    hostcall_async!(
        l,
        "fastly_http_downstream",
        "next_request_wait",
        |c, h, req_out, body_out| {
            let (rh, bh) = c.data_mut().session.next_request_wait(h).await?;
            let (mut m, _) = split(&mut c)?;
            m.u32(req_out, rh)?;
            m.u32(body_out, bh)
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "next_request_abandon",
        |c, h| { c.data_mut().session.abandon_promise(h) }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_client_ip_addr",
        |c, req, out, nw| {
            let (mut m, st) = split(&mut c)?;
            let ip = st.session.downstream_meta(Some(req))?.client_ip;
            super::req::write_ip(&mut m, ip, out, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_server_ip_addr",
        |c, req, out, nw| {
            let (mut m, st) = split(&mut c)?;
            let ip = st.session.downstream_meta(Some(req))?.server_addr.ip();
            super::req::write_ip(&mut m, ip, out, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_client_request_id",
        |c, req, buf, max, nw| {
            let (mut m, st) = split(&mut c)?;
            let id = st.session.downstream_meta(Some(req))?.request_id_text();
            m.out(buf, max, nw, id.as_bytes())
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_original_header_names",
        |c, req, buf, len, cursor, ending, nw| {
            let (mut m, st) = split(&mut c)?;
            let names = st
                .session
                .downstream_meta(Some(req))?
                .original_header_names
                .clone();
            m.multi_value(names, buf, len, cursor, ending, nw)
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_original_header_count",
        |c, req, out| {
            let (mut m, st) = split(&mut c)?;
            let n = st
                .session
                .downstream_meta(Some(req))?
                .original_header_names
                .len();
            m.u32(out, n as u32)
        }
    );
    // Facts that exist only where TLS ends or bot and DDoS detection run.
    macro_rules! absent {
        ($($name:literal),*) => {$(
            hostcall!(l, "fastly_http_downstream", $name, |c, req, _buf, _max, _nw| {
                c.data().session.downstream_meta(Some(req))?;
                Err(HostError::None)
            });
        )*};
    }
    absent!(
        "downstream_tls_cipher_openssl_name",
        "downstream_tls_protocol",
        "downstream_tls_client_hello",
        "downstream_tls_raw_client_certificate",
        "downstream_tls_client_servername",
        "downstream_tls_ja4",
        "downstream_client_h2_fingerprint",
        "downstream_client_oh_fingerprint",
        "downstream_bot_name",
        "downstream_bot_category",
        "downstream_compliance_region",
        "downstream_resvpnproxy_vpn_service_name"
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_tls_ja3_md5",
        |c, req, _out, _nw| {
            c.data().session.downstream_meta(Some(req))?;
            Err(HostError::None)
        }
    );
    macro_rules! flag_false {
        ($($name:literal),*) => {$(
            hostcall!(l, "fastly_http_downstream", $name, |c, req, out| {
                let (mut m, st) = split(&mut c)?;
                st.session.downstream_meta(Some(req))?;
                m.u32(out, 0)
            });
        )*};
    }
    flag_false!(
        "fastly_key_is_valid",
        "downstream_client_ddos_detected",
        "downstream_bot_analyzed",
        "downstream_bot_detected",
        "downstream_bot_verified",
        "downstream_resvpnproxy_is_anonymous",
        "downstream_resvpnproxy_is_anonymous_vpn",
        "downstream_resvpnproxy_is_hosting_provider",
        "downstream_resvpnproxy_is_proxy_over_vpn",
        "downstream_resvpnproxy_is_public_proxy",
        "downstream_resvpnproxy_is_relay_proxy",
        "downstream_resvpnproxy_is_residential_proxy",
        "downstream_resvpnproxy_is_smart_dns_proxy",
        "downstream_resvpnproxy_is_tor_exit_node",
        "downstream_resvpnproxy_is_vpn_datacenter"
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_bot_category_kind",
        |c, req, _out| {
            c.data().session.downstream_meta(Some(req))?;
            Err(HostError::None)
        }
    );
    hostcall!(
        l,
        "fastly_http_downstream",
        "downstream_tls_client_cert_verify_result",
        |c, req, _out| {
            c.data().session.downstream_meta(Some(req))?;
            Err(HostError::None)
        }
    );
    Ok(())
}
