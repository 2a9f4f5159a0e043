//! `pop`: how the POP describes itself to the programs it runs (Fastly's
//! `FASTLY_POP`, `FASTLY_REGION` and `FASTLY_CUSTOMER_ID` variables).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What programs are told about this POP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Pop {
    /// The POP's name, `FASTLY_POP` (Fastly's are airport codes such as
    /// `SJC`). Empty: the release name, in capitals.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,32}$"))]
    pub name: Option<String>,
    /// Its region, `FASTLY_REGION` (Fastly's are such as `US-West` or
    /// `Europe`). Empty: `Anywhere`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub region: Option<String>,
    /// The Fastly customer id programs see as `FASTLY_CUSTOMER_ID`. Empty:
    /// 22 zeros, as Fastly's local tool answers.
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{1,64}$"))]
    pub customer_id: Option<String>,
}
