//! `bootstrap` and `existingSecret`: where the two tokens come from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The bootstrap token section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Bootstrap {
    /// The bootstrap token Fastly provides to identify this cluster. Prefer
    /// `existingSecret` so that the token stays out of values files and Git.
    pub token: Option<String>,
}

/// A Secret, created beforehand, that holds both tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExistingSecret {
    /// Name of the Secret in the release namespace. Empty: the chart creates
    /// a Secret from `bootstrap.token` and `fastly_key`.
    pub name: Option<String>,
    /// Key of the bootstrap token in that Secret.
    #[schemars(length(min = 1))]
    pub bootstrap_token_key: String,
    /// Key of the Fastly API automation token in that Secret.
    #[schemars(length(min = 1))]
    pub fastly_key_key: String,
}

impl Default for ExistingSecret {
    fn default() -> Self {
        ExistingSecret {
            name: None,
            bootstrap_token_key: "bootstrap-token".into(),
            fastly_key_key: "fastly-key".into(),
        }
    }
}
