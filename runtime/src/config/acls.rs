//! `acls`: named IP access lists, each from a JSON file of prefixes.

use super::ConfigError;
use super::fastly_toml::Ctx;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What an ACL says about a matching address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AclAction {
    /// Let it through.
    Allow,
    /// Stop it.
    Block,
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AclEntry {
    /// The network.
    pub prefix: ipnet::IpNet,
    /// The action.
    pub action: AclAction,
}

/// An access list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acl {
    /// Entries in file order.
    pub entries: Vec<AclEntry>,
}

impl Acl {
    /// The most specific entry containing `ip` (longest prefix wins).
    pub fn lookup(&self, ip: IpAddr) -> Option<&AclEntry> {
        self.entries
            .iter()
            .filter(|e| e.prefix.contains(&ip))
            .max_by_key(|e| e.prefix.prefix_len())
    }

    /// Parses the JSON form `{"entries": [{"prefix": "…", "action": "…"}]}`.
    pub fn from_json(text: &str) -> Result<Acl, String> {
        #[derive(serde::Deserialize)]
        struct File {
            entries: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            prefix: String,
            action: AclAction,
        }
        let file: File = serde_json::from_str(text).map_err(|e| {
            format!("line {}, column {}: {e}; expected {{\"entries\": [{{\"prefix\": \"192.0.2.0/24\", \"action\": \"BLOCK\"}}]}}", e.line(), e.column())
        })?;
        let entries = file
            .entries
            .into_iter()
            .map(|e| {
                let prefix = e
                    .prefix
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| e.prefix.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("`{}` is not an IP prefix such as 192.0.2.0/24", e.prefix)
                    })?;
                Ok(AclEntry {
                    prefix: prefix.trunc(),
                    action: e.action,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Acl { entries })
    }
}

pub(super) fn parse(
    ctx: &Ctx<'_>,
    value: &toml::Value,
) -> Result<BTreeMap<String, Acl>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, v) in ctx.table("local_server.acls", value)? {
        let key = format!("local_server.acls.{name}");
        let file = match v {
            toml::Value::String(s) => s.as_str(),
            toml::Value::Table(t) => t
                .get("file")
                .ok_or_else(|| ctx.err(&key, "needs `file = \"acl.json\"`"))
                .and_then(|f| ctx.string(&format!("{key}.file"), f))?,
            other => {
                return Err(ctx.err(
                    &key,
                    format!(
                        "must be a file name or {{ file = \"…\" }}, found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let (path, text) = ctx.read(&key, file)?;
        let acl = Acl::from_json(&text).map_err(|m| ConfigError::new(&path, "entries", m))?;
        out.insert(name.clone(), acl);
    }
    Ok(out)
}
