//! The integration tests that are not timing-sensitive, in one test binary: each former
//! `tests/*.rs` file is a module here, so the crate is linked into one test executable
//! instead of one per file. Their shared helpers are in `support`. The tests whose
//! assertions depend on wall-clock timing under load (latency shapes, rates, run-time
//! bounds, many agents or shard processes at once) stay in their own binaries beside this
//! folder, so that running these in parallel cannot make them flaky.

mod support;

mod ci_outputs;
mod cli;
mod cli_help;
mod client_documented;
mod client_replies;
mod cluster_client;
mod deploy_manifest;
mod deploy_yaml;
mod docs_commands;
mod documented_gateway;
mod hostile_gateway;
mod live_metrics;
mod merge_refusals;
mod merge_rules;
mod probe;
mod reconcile_reused;
mod report_compare;
mod report_findings;
mod report_hlog;
mod report_html;
mod report_invariants;
mod report_merge;
mod report_tables;
mod report_thresholds;
mod scenario_docs;
mod scenario_errors;
mod shard_cli;
mod shard_merge;
mod sim_behaviour;
mod sim_calls;
mod sim_cluster;
mod sim_conformance;
mod sim_dialects;
mod sim_http;
mod sim_push;
mod sim_robust;
mod source_addresses;
mod terminal;
mod tls_certs;
