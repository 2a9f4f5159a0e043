//! The endpoints, one method each, as Fastly's API reference names them.

use super::client::{Client, Fetched};
use super::conditional::{Conditional, ETag};
use super::error::ApiError;
use super::model::{
    Dictionary, Item, PackageInfo, ResourceLink, ServiceDetails, ServiceSummary, TokenInfo,
    items_map,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Records asked for per page of a paginated list.
pub const PER_PAGE: usize = 100;
/// More pages than this is taken for a server that never stops.
const MAX_PAGES: usize = 1000;

impl Client {
    /// `GET /tokens/self`: the token this client uses.
    pub async fn token_self(&self) -> Result<TokenInfo, ApiError> {
        self.get_json("/tokens/self").await
    }

    /// `GET /service`, every page. With `etag` (from the previous answer)
    /// the API may answer [`Conditional::NotModified`]. Only a list that
    /// fits on one page carries an ETag: for a longer one a later page can
    /// change while the first does not, so it is fetched whole each time.
    pub async fn list_services(
        &self,
        etag: Option<&ETag>,
    ) -> Result<Conditional<Vec<ServiceSummary>>, ApiError> {
        self.get_pages("/service", etag).await
    }

    /// `GET /service/{id}/details`: the service and its active version
    /// (domains, backends), conditional on `etag`.
    pub async fn service_details(
        &self,
        service_id: &str,
        etag: Option<&ETag>,
    ) -> Result<Conditional<ServiceDetails>, ApiError> {
        let path = format!("/service/{}/details", segment("service id", service_id)?);
        match self.get(&path, etag).await? {
            Fetched::NotModified => Ok(Conditional::NotModified),
            Fetched::Body { bytes, etag, .. } => {
                Ok(Conditional::Modified(self.parse(&path, &bytes)?, etag))
            }
        }
    }

    /// `GET /service/{id}/version/{v}/package`: the Compute package's
    /// metadata and hashsum (the API does not serve the package itself).
    pub async fn package(&self, service_id: &str, version: u32) -> Result<PackageInfo, ApiError> {
        let id = segment("service id", service_id)?;
        self.get_json(&format!("/service/{id}/version/{version}/package"))
            .await
    }

    /// `GET /service/{id}/version/{v}/dictionary`: the version's
    /// dictionaries (without items).
    pub async fn dictionaries(
        &self,
        service_id: &str,
        version: u32,
    ) -> Result<Vec<Dictionary>, ApiError> {
        let id = segment("service id", service_id)?;
        self.get_json(&format!("/service/{id}/version/{version}/dictionary"))
            .await
    }

    /// `GET /service/{id}/dictionary/{dictionary_id}/items`, every page:
    /// key → value.
    pub async fn dictionary_items(
        &self,
        service_id: &str,
        dictionary_id: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let id = segment("service id", service_id)?;
        let dict = segment("dictionary id", dictionary_id)?;
        let path = format!("/service/{id}/dictionary/{dict}/items");
        let items: Vec<Item> = self
            .get_pages(&path, None)
            .await?
            .modified()
            .unwrap_or_default();
        Ok(items_map(items))
    }

    /// `GET /service/{id}/version/{v}/resource`: the stores the version
    /// links (config, KV and secret stores).
    pub async fn resource_links(
        &self,
        service_id: &str,
        version: u32,
    ) -> Result<Vec<ResourceLink>, ApiError> {
        let id = segment("service id", service_id)?;
        self.get_json(&format!("/service/{id}/version/{version}/resource"))
            .await
    }

    /// `GET /resources/stores/config/{store_id}/items`: key → value.
    pub async fn config_store_items(
        &self,
        store_id: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        /// The documented answer is a list; a `{"data": [...]}` envelope,
        /// as Fastly's newer store endpoints use, is accepted too.
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Items {
            List(Vec<Item>),
            Envelope { data: Vec<Item> },
        }
        let store = segment("config store id", store_id)?;
        let items = match self
            .get_json(&format!("/resources/stores/config/{store}/items"))
            .await?
        {
            Items::List(items) | Items::Envelope { data: items } => items,
        };
        Ok(items_map(items))
    }

    /// Every page of a list endpoint that takes `page` and `per_page`. Stops
    /// when a `Link` header has no `rel="next"`, or, without one, at the
    /// first page shorter than [`PER_PAGE`].
    async fn get_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        etag: Option<&ETag>,
    ) -> Result<Conditional<Vec<T>>, ApiError> {
        let mut all = Vec::new();
        let mut first_etag = None;
        for page in 1..=MAX_PAGES {
            let page_path = format!("{path}?page={page}&per_page={PER_PAGE}");
            let conditional = if page == 1 { etag } else { None };
            let (bytes, page_etag, has_next) = match self.get(&page_path, conditional).await? {
                Fetched::NotModified => return Ok(Conditional::NotModified),
                Fetched::Body {
                    bytes,
                    etag,
                    has_next,
                } => (bytes, etag, has_next),
            };
            let items: Vec<T> = self.parse(&page_path, &bytes)?;
            let more = !items.is_empty() && has_next.unwrap_or(items.len() >= PER_PAGE);
            all.extend(items);
            if page == 1 {
                first_etag = page_etag;
            }
            if !more {
                let etag = if page == 1 { first_etag } else { None };
                return Ok(Conditional::Modified(all, etag));
            }
        }
        Err(ApiError::BadResponse {
            url: self.url(path),
            reason: format!("more than {MAX_PAGES} pages of {PER_PAGE}"),
        })
    }
}

/// An id as one path segment: the API's ids are alphanumeric, and
/// anything else (`/`, `..`, `?`) would change which resource is asked for.
fn segment<'a>(what: &'static str, id: &'a str) -> Result<&'a str, ApiError> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(ApiError::BadId {
            what,
            id: id.to_owned(),
        })
    }
}
