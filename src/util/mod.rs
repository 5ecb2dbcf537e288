//! Small helpers every layer may use and that know nothing of agents or gateways: durations
//! as scenarios write them, the operating system's limits (open files, ports), and the TLS
//! crypto provider.

pub mod diag;
pub mod duration;
pub mod fmt;
pub mod limits;
pub mod term;
pub mod tls;
