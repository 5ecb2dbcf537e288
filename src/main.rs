//! The `agentstorm` binary: parse the command line, set up diagnostics, run the command on
//! a tokio runtime, exit with its code. Everything else is in the library.

use clap::Parser;

fn main() {
    let cli = agentstorm::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(agentstorm::util::term::writer)
        .init();
    // `run --threads N` sizes the runtime's workers too (the embedded gateway, the
    // collector and the services run there; agents run on their own lanes,
    // `agentstorm::agent::lanes`).
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let agentstorm::cli::Command::Run {
        threads: Some(n), ..
    } = &cli.command
    {
        runtime.worker_threads(n.get());
    }
    let code = match runtime.build() {
        Ok(rt) => rt.block_on(agentstorm::cli::dispatch::dispatch(cli.command)),
        Err(e) => {
            eprintln!("agentstorm: cannot start the async runtime: {e}");
            agentstorm::exit::CANNOT_MEASURE
        }
    };
    std::process::exit(code);
}
