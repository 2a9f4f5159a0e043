//! A developer's machine: `anywhere serve` (a program answering requests)
//! and `anywhere run` (a program run once, as a command), over the same
//! loading of a package and its `fastly.toml`.

pub mod program;
pub mod run;
pub mod serve;
