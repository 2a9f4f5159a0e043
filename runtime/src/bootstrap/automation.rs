//! Checking the automation token (`fastly_key`) against the API: it
//! exists, has not expired, and may read service configuration. Each
//! failure is one sentence that says which token and what to do.

use crate::fastly_api::{ApiError, Client, TokenInfo};
use std::time::{Duration, SystemTime};

/// What every "make a new token" message ends with.
const FIX: &str = "create an automation token with the global:read scope \
(Fastly control panel: Account > API tokens) and put it in the tokens Secret \
(values fastly_key, or the fastlyKeyKey key of existingSecret); the init container \
retries with back-off";

/// Warn when the token expires within this.
const EXPIRY_WARNING: Duration = Duration::from_secs(7 * 24 * 3600);

/// The automation token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    /// 401/403 on `/tokens/self`: unknown, revoked or expired.
    #[error(
        "the automation token (fastly_key) was refused by {api_url} (HTTP {status}: {message}): it is unknown, revoked, expired or without access; {FIX}"
    )]
    Refused {
        /// The API.
        api_url: String,
        /// 401 or 403.
        status: u16,
        /// Fastly's message.
        message: String,
    },
    /// `expires_at` has passed.
    #[error("the automation token (fastly_key) {name:?} expired at {expires_at}: {FIX}")]
    Expired {
        /// The token's name.
        name: String,
        /// When.
        expires_at: String,
    },
    /// Neither `global` nor `global:read`.
    #[error(
        "the automation token (fastly_key) {name:?} has scope {scope:?}, but the loader needs global:read (or global) to read service configuration; purge scopes are not enough: {FIX}"
    )]
    UnderScoped {
        /// The token's name.
        name: String,
        /// The scopes it has.
        scope: String,
    },
    /// No answer, a timeout, 429 or 5xx: nothing is wrong with the token
    /// as far as we know.
    #[error(
        "cannot check the automation token (fastly_key) against the Fastly API at {api_url}: {error}; check controlPlane.apiUrl and the pod's egress to it; the init container will be retried"
    )]
    ApiUnavailable {
        /// The API.
        api_url: String,
        /// What failed.
        error: ApiError,
    },
    /// Any other failure (a malformed answer, a 404 from a wrong URL).
    #[error(
        "cannot check the automation token (fastly_key) against {api_url}: {error}; check controlPlane.apiUrl"
    )]
    Api {
        /// The API.
        api_url: String,
        /// What failed.
        error: ApiError,
    },
}

/// Asks the API about the client's token and checks the answer.
pub async fn verify(client: &Client, now: SystemTime) -> Result<TokenInfo, TokenProblem> {
    let api_url = client.base_url().to_owned();
    let info = client.token_self().await.map_err(|error| match error {
        ApiError::Refused {
            status, message, ..
        } => TokenProblem::Refused {
            api_url: api_url.clone(),
            status,
            message,
        },
        error if error.is_transient() => TokenProblem::ApiUnavailable {
            api_url: api_url.clone(),
            error,
        },
        error => TokenProblem::Api {
            api_url: api_url.clone(),
            error,
        },
    })?;
    check(&info, now)?;
    Ok(info)
}

/// Checks expiry and scope.
pub fn check(info: &TokenInfo, now: SystemTime) -> Result<(), TokenProblem> {
    if let Some(expires_at) = &info.expires_at {
        if expires_at.is_past(now) {
            return Err(TokenProblem::Expired {
                name: info.name.clone(),
                expires_at: expires_at.to_string(),
            });
        }
        if expires_at.is_past(now + EXPIRY_WARNING) {
            tracing::warn!(token = %info.name, %expires_at, "the automation token (fastly_key) expires within 7 days: create a new one and update the tokens Secret");
        }
    }
    if !info.can_read_config() {
        return Err(TokenProblem::UnderScoped {
            name: info.name.clone(),
            scope: info.scope.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn token(scope: &str, expires_at: Option<&str>) -> TokenInfo {
        let json = serde_json::json!({"id": "t1", "name": "loader", "scope": scope, "expires_at": expires_at});
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn accepts_read_and_global_scopes() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for scope in ["global:read", "global", "purge_all global:read"] {
            assert!(check(&token(scope, None), now).is_ok(), "{scope}");
        }
        let e = check(&token("purge_select purge_all", None), now)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has scope \"purge_select purge_all\", but the loader needs global:read"),
            "{e}"
        );
    }

    #[test]
    fn names_the_expiry() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let e = check(&token("global:read", Some("2020-01-31T12:00:00Z")), now).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"loader\" expired at 2020-01-31T12:00:00Z"),
            "{e}"
        );
        assert!(check(&token("global:read", Some("2099-01-01T00:00:00Z")), now).is_ok());
    }
}
