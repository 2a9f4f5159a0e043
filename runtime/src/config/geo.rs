//! `geolocation` and `device_detection`: lookup data given in config,
//! answered as the JSON the SDKs parse.

use super::ConfigError;
use super::fastly_toml::Ctx;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Geolocation records by client IP.
#[derive(Debug, Clone, PartialEq)]
pub struct Geolocation {
    /// Records by address.
    pub addresses: BTreeMap<IpAddr, serde_json::Value>,
    /// Answer loopback addresses with a built-in test record when they are
    /// not listed (default on, as in Fastly's local tools).
    pub use_default_loopback: bool,
}

impl Default for Geolocation {
    fn default() -> Self {
        Geolocation {
            addresses: BTreeMap::new(),
            use_default_loopback: true,
        }
    }
}

/// Device detection records by User-Agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceDetection {
    /// Records by exact User-Agent string.
    pub user_agents: BTreeMap<String, serde_json::Value>,
}

impl Geolocation {
    /// The JSON record for `ip`, if any.
    pub fn lookup(&self, ip: IpAddr) -> Option<serde_json::Value> {
        if let Some(v) = self.addresses.get(&ip) {
            return Some(v.clone());
        }
        (self.use_default_loopback && ip.is_loopback()).then(loopback_record)
    }
}

/// What a loopback client looks like when config says nothing about it: a
/// complete record, so that programs reading any field get a value.
fn loopback_record() -> serde_json::Value {
    serde_json::json!({
        "as_name": "Fastly Anywhere local",
        "as_number": 0,
        "area_code": 0,
        "city": "localhost",
        "conn_speed": "broadband",
        "conn_type": "wired",
        "continent": "NA",
        "country_code": "US",
        "country_code3": "USA",
        "country_name": "United States of America",
        "gmt_offset": 0,
        "latitude": 0.0,
        "longitude": 0.0,
        "metro_code": 0,
        "postal_code": "00000",
        "proxy_description": "?",
        "proxy_type": "?",
        "region": "",
        "utc_offset": 0
    })
}

fn records(
    ctx: &Ctx<'_>,
    key: &str,
    inner: &str,
    value: &toml::Value,
) -> Result<BTreeMap<String, serde_json::Value>, ConfigError> {
    let table = ctx.table(key, value)?;
    let format = table
        .get("format")
        .map(|f| ctx.string(&format!("{key}.format"), f))
        .transpose()?;
    let mut out = BTreeMap::new();
    match format {
        Some("json") => {
            let file = table
                .get("file")
                .ok_or_else(|| ctx.err(key, "format \"json\" needs `file`"))?;
            let (path, text) = ctx.read(
                &format!("{key}.file"),
                ctx.string(&format!("{key}.file"), file)?,
            )?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                ConfigError::new(
                    &path,
                    format!("line {}, column {}", e.line(), e.column()),
                    e.to_string(),
                )
            })?;
            let map = v
                .as_object()
                .ok_or_else(|| ConfigError::new(&path, "(top)", "must be a JSON object"))?;
            out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some("inline-toml") | None => {
            if let Some(entries) = table.get(inner) {
                for (k, v) in ctx.table(&format!("{key}.{inner}"), entries)? {
                    let json = serde_json::to_value(v)
                        .map_err(|e| ctx.err(format!("{key}.{inner}.{k}"), e.to_string()))?;
                    out.insert(k.clone(), json);
                }
            }
        }
        Some(other) => {
            return Err(ctx.err(
                format!("{key}.format"),
                format!("`{other}` is not a format; use \"inline-toml\" or \"json\""),
            ));
        }
    }
    Ok(out)
}

pub(super) fn parse_geolocation(
    ctx: &Ctx<'_>,
    value: &toml::Value,
) -> Result<Geolocation, ConfigError> {
    let key = "local_server.geolocation";
    let mut geo = Geolocation::default();
    if let Some(v) = ctx.table(key, value)?.get("use_default_loopback") {
        geo.use_default_loopback = v.as_bool().ok_or_else(|| {
            ctx.err(
                format!("{key}.use_default_loopback"),
                "must be true or false",
            )
        })?;
    }
    for (addr, record) in records(ctx, key, "addresses", value)? {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| ctx.err(format!("{key}.addresses.{addr}"), "is not an IP address"))?;
        geo.addresses.insert(ip, record);
    }
    Ok(geo)
}

pub(super) fn parse_device_detection(
    ctx: &Ctx<'_>,
    value: &toml::Value,
) -> Result<DeviceDetection, ConfigError> {
    Ok(DeviceDetection {
        user_agents: records(ctx, "local_server.device_detection", "user_agents", value)?,
    })
}
