//! Scenario files (design.md §5): the serde model, value syntaxes, and loading with
//! diagnostics that name file, line, column and key.

pub mod load;
pub mod model;
pub mod values;

pub use load::{load_file, Loaded, ScenarioError};
pub use model::*;
