//! Helpers shared by the modules of the `it` test binary: a simulated gateway on port 0
//! (`gateway`), the simulated gateway with a plain hyper client for wire-level tests
//! (`sim`), hand-made Results for the report tests (`fixture`), and the line and column
//! of a place in scenario text (`position`), and the request side of the HTTP gateways
//! written inside tests (`raw`). `gateway` is also included with `#[path]` by
//! the timing-sensitive test binaries in `tests/`.

pub mod fixture;
pub mod gateway;
pub mod position;
pub mod raw;
pub mod sim;
