//! Scenario files: the serde model, value syntaxes, and loading with
//! diagnostics that name file, line, column and key.
//!
//! `load` is the entry point (read, apply `--set` overrides, deserialise, validate);
//! `tree` keeps the position of every key, `de` deserialises the model from that tree so
//! that every serde error knows its key, `overrides` applies `--set KEY=VALUE`, and
//! `validate` holds the checks serde cannot express. `values` and `source_addresses` hold
//! value types with their own syntax, `thresholds` the threshold grammar.

mod de;
pub mod load;
pub mod model;
mod overrides;
mod parse;
pub mod source_addresses;
pub mod thresholds;
mod tree;
mod validate;
pub mod values;

pub use load::{load_file, load_file_aimed, load_str, Loaded, ScenarioError};
pub use model::*;
