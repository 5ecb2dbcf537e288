//! Scenario files: the serde model, value syntaxes, and loading with
//! diagnostics that name file, line, column and key.
//!
//! `load` is the entry point (read, apply `--set` overrides, deserialise, validate). The
//! text is parsed by `toml_edit`, whose spans say where every key and value is written;
//! `tree` maps a key path to that place (or to the `--set` that wrote it), `de`
//! deserialises the model through `serde_path_to_error` so that every serde error knows
//! its key path, `overrides` applies `--set KEY=VALUE` to the document, and `validate`
//! holds the checks serde cannot express. `values` and `source_addresses` hold
//! value types with their own syntax, `thresholds` the threshold grammar.

mod de;
pub mod load;
pub mod model;
mod overrides;
pub mod read_buffer;
pub mod session;
pub mod source_addresses;
pub mod thresholds;
mod tree;
mod validate;
pub mod values;

pub use load::{load_file, load_file_aimed, load_str, load_str_aimed, Loaded, ScenarioError};
pub use model::*;
pub use read_buffer::ReadBuffer;
pub use session::*;
