//! h2o: the HTTP front (hyper, HTTP/1.1 and h2c) that routes client
//! requests by Host to a service version, the admin endpoints, and metrics.

pub mod admin;
pub mod front;
pub mod purge;
