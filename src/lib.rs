//! agentstorm: load and soak testing for mass call-center agent sign-in against CC-Gateway
//! (AgentGateway) style agent gateways.
//!
//! The folders are the architecture (docs/architecture.md), dependencies running one way,
//! from the command line down to the wire:
//!
//! - [`cli`]: the command line (clap types), one function per subcommand, the results
//!   commands (`report`, `compare`, `merge`) and `run --processes`.
//! - [`probe`]: the preflight, one agent through the client with every exchange explained.
//! - [`run`]: one run wired together (load, embedded gateway, execution, collection,
//!   results, reports), with its live progress line and shard slicing.
//! - [`scheduler`]: the load plan as phases, the arrival pacer, the open, closed and
//!   capacity-search models, and agent id leases.
//! - [`agent`]: one agent's session state machine, the threads agents run on, the push-mode
//!   receiver and the stop phase's sign-out gate.
//! - [`client`]: the gateway client (connections, TLS trust, reading replies).
//! - [`metrics`]: samples, per-thread recording, the Results document and the hlog file.
//! - [`analysis`]: what is derived from Results (drift, threshold verdicts, shard merge).
//! - [`report`]: renderers of Results (console, CSV, JSON, HTML, comparison).
//! - [`scenario`]: scenario files (model, value syntaxes, validation, threshold grammar).
//! - [`sim`]: the simulated gateway, which shares only [`protocol`] (and [`util`]) with
//!   the client side.
//! - [`protocol`]: what travels on the wire; [`outcome`]: retcode and transport failure
//!   kinds; [`exit`]: the exit codes; [`util`]: durations, OS limits, TLS crypto, number
//!   formats, messages above the live status line.
//!
//! Glossary: *agent* — one simulated call-center agent (one id, one session at a time);
//! *arrival* — the moment the plan starts an agent; *stage* — a part of the load plan as
//! written; *phase* — a stage normalised (start rate, end rate, duration); *sample* — one
//! finished operation; *interval* — the period over which samples are merged for time
//! series; *results* — the document every report reads.

pub mod agent;
pub mod analysis;
pub mod cli;
pub mod client;
pub mod exit;
pub mod metrics;
pub mod outcome;
pub mod probe;
pub mod protocol;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod sim;
pub mod util;
