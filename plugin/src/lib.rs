//! The `helm anywhere` plugin as a library: every subcommand is a function
//! with a typed request, so that tests call it directly and `main` only
//! parses arguments.

pub mod doctor;
pub mod gitops;
pub mod merge;
pub mod redact;
pub mod render;
pub mod report;
pub mod set_flags;
pub mod source;
pub mod validate;
pub mod version;
pub mod yaml;
