//! agentstorm: load and soak testing for mass call-center agent sign-in against CC-Gateway
//! (AgentGateway) style agent gateways.
//!
//! Layout (design.md §6), data flowing one way:
//! `scenario` (parse, validate) → `plan` (stages as phases, pure) → `pacer` (intended
//! arrival times, pure) → `scheduler` (clock, agents, stop) → `agent` (one agent's
//! session over `client`) → `metrics` (samples into per-worker histograms, merged per
//! interval, `Results`) → `report` (console, CSV, JSON). `run` wires one run together;
//! `sim` is the simulated gateway and shares only `protocol` with the client side.
//! `probe` is the preflight: one agent through the same `client`, each exchange explained.
//!
//! Glossary: *agent* — one simulated call-center agent (one id, one session at a time);
//! *arrival* — the moment the plan starts an agent; *stage* — a part of the load plan as
//! written; *phase* — a stage normalised (start rate, end rate, duration); *sample* — one
//! finished operation; *interval* — the period over which samples are merged for time
//! series; *results* — the document every report reads.

pub mod agent;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod collector;
pub mod commands;
pub mod duration;
pub mod exit;
pub mod lanes;
pub mod lease;
pub mod limits;
pub mod metrics;
pub mod offline;
pub mod pacer;
pub mod plan;
pub mod probe;
pub mod processes;
pub mod progress;
pub mod protocol;
pub mod push;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod shard;
pub mod sim;
pub mod stop;
