//! One function per subcommand: resolves the parsed command line into library calls,
//! prints what the user reads, and returns the exit code. Signals are turned into the
//! run's stop tokens here (first Ctrl-C or SIGTERM: graceful stop; second: stop at once).

use tokio_util::sync::CancellationToken;

use crate::cli::Command;
use crate::exit::{self, Exit};
use crate::run::{self, RunOptions};

/// Runs a command to completion and returns the process exit code.
pub async fn dispatch(command: Command) -> i32 {
    let result = match command {
        run @ Command::Run { .. } => run_subcommand(run).await,
        Command::Gateway {
            listen,
            config,
            plain_http,
            cert,
            key,
            cert_out,
            nodes,
            stickiness,
        } => {
            gateway_command(
                crate::sim::standalone::Options {
                    listen,
                    config,
                    plain_http,
                    cert,
                    key,
                    cert_out,
                },
                crate::sim::standalone::Overrides { nodes, stickiness },
            )
            .await
        }
        Command::Probe {
            scenario,
            target,
            ca_file,
            agent,
            password_env,
            overrides,
        } => {
            probe_command(crate::probe::Options {
                scenario,
                target,
                ca_file,
                agent,
                password_env,
                overrides,
            })
            .await
        }
        Command::Validate {
            scenarios,
            overrides,
        } => validate_command(&scenarios, &overrides),
        Command::Report { results, out } => crate::cli::offline::report(&results, out.as_deref()),
        Command::Compare {
            baseline,
            candidate,
            out,
            latency_pct,
            latency_ms,
            errors_pp,
            min_samples,
        } => {
            let tolerance = crate::report::compare::Tolerance {
                latency_rel_pct: latency_pct,
                latency_abs_ms: latency_ms,
                rate_pp: errors_pp,
                min_samples,
                ..Default::default()
            };
            crate::cli::offline::compare(&baseline, &candidate, out.as_deref(), &tolerance)
        }
        Command::Merge { results, out } => crate::cli::offline::merge(&results, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("agentstorm: {}", e.message);
            e.code
        }
    }
}

/// `run`: the command line resolved into one run, or `--processes` shards.
async fn run_subcommand(command: Command) -> Result<i32, Exit> {
    let Command::Run {
        scenario,
        target,
        ca_file,
        out,
        force,
        overrides,
        quiet,
        shard,
        start_at,
        processes,
        threads,
        metrics_listen,
        metrics_push,
        metrics_push_interval,
        run_id,
    } = command
    else {
        return Err(Exit::bad_input("not a run".to_string()));
    };
    match crate::run::shard::resolve(shard.as_deref(), |k| std::env::var(k).ok())
        .and_then(|s| crate::run::shard::start_at_from(start_at.as_deref()).map(|t| (s, t)))
        .map_err(Exit::bad_input)
        // A folder holding a report is not overwritten unless asked (--processes checks
        // its own folder and its shards').
        .and_then(|resolved| match (processes, out.as_deref()) {
            (None, Some(dir)) => crate::run::prepare::check_out(dir, force).map(|_| resolved),
            _ => Ok(resolved),
        }) {
        Err(e) => Err(e),
        Ok(_) if processes.is_some() && (metrics_listen.is_some() || metrics_push.is_some()) => {
            Err(Exit::bad_input(
                "--metrics-listen and --metrics-push cannot be combined with --processes yet: \
                 run the shards with --shard K/N instead, each with its own --metrics-listen \
                 port or the same --metrics-push URL"
                    .to_string(),
            ))
        }
        Ok((_, start_at)) if processes.is_some() => {
            let mut opts =
                crate::cli::processes::Options::new(scenario, processes.unwrap_or_default());
            opts.target = target;
            opts.ca_file = ca_file;
            opts.out = out;
            opts.force = force;
            opts.overrides = overrides;
            opts.start_at = start_at;
            opts.quiet = quiet;
            opts.threads = threads;
            watch_signals(opts.stop.clone(), opts.hard_stop.clone());
            crate::cli::processes::run(opts).await
        }
        Ok((shard, start_at)) => {
            let mut opts = RunOptions::new(scenario);
            opts.target = target;
            opts.ca_file = ca_file;
            opts.out = out;
            opts.overrides = overrides;
            opts.progress = crate::run::progress::Mode::detect(quiet);
            opts.shard = shard;
            opts.start_at = start_at;
            opts.threads = threads;
            opts.metrics = crate::run::live_metrics::Options {
                listen: metrics_listen,
                push: metrics_push,
                push_interval: metrics_push_interval,
                run_id,
            };
            run_command(opts, quiet).await
        }
    }
}

async fn run_command(opts: RunOptions, quiet: bool) -> Result<i32, Exit> {
    watch_signals(opts.stop.clone(), opts.hard_stop.clone());
    let outcome = run::run(opts).await?;
    if !quiet {
        print!("{}", crate::report::console_summary(&outcome.results));
    }
    // Where the reports are and the verdict are printed even with --quiet: they are what
    // CI reads.
    println!("reports: {}", outcome.out_dir.display());
    print!(
        "{}",
        crate::report::thresholds::render(&outcome.results.derived.thresholds)
    );
    let v = &outcome.results.derived.verdict;
    if quiet {
        println!(
            "verdict: {} (exit {})",
            crate::report::summary_md::verdict_word(v.exit_code),
            v.exit_code
        );
    }
    // Why it did not pass, on the same screen as the summary.
    if v.exit_code != exit::OK && !v.reason.is_empty() {
        eprintln!("agentstorm: {}", v.reason);
    }
    Ok(outcome.exit_code)
}

async fn probe_command(opts: crate::probe::Options) -> Result<i32, Exit> {
    let probe = crate::probe::run(&opts).await?;
    print!(
        "{}",
        crate::probe::render::render(&probe, std::time::SystemTime::now())
    );
    Ok(if probe.is_ready() {
        exit::OK
    } else {
        exit::CANNOT_MEASURE
    })
}

async fn gateway_command(
    opts: crate::sim::standalone::Options,
    overrides: crate::sim::standalone::Overrides,
) -> Result<i32, Exit> {
    let shutdown = CancellationToken::new();
    watch_signals(shutdown.clone(), CancellationToken::new());
    crate::sim::standalone::run_with(opts, overrides, shutdown)
        .await
        .map_err(|e| Exit::bad_input(format!("{e:#}")))?;
    Ok(exit::OK)
}

fn validate_command(scenarios: &[std::path::PathBuf], overrides: &[String]) -> Result<i32, Exit> {
    let mut worst = exit::OK;
    for path in scenarios {
        match crate::scenario::load_file(path, overrides).and_then(|l| {
            if l.scenario.load.model == crate::scenario::LoadModel::CapacitySearch {
                return Ok(l); // plans its own steps from [capacity]
            }
            crate::scheduler::plan::Plan::from_stages(&l.scenario.load.stages)
                .map(|_| l)
                .map_err(|message| {
                    crate::scenario::ScenarioError::about_key(
                        path.display().to_string(),
                        "load.stages",
                        message,
                    )
                })
        }) {
            Ok(l) => println!("{}: ok ({})", path.display(), l.scenario.name),
            Err(e) => {
                eprintln!("{e}");
                worst = exit::BAD_INPUT;
            }
        }
    }
    Ok(worst)
}

/// First SIGINT/SIGTERM cancels `stop`; the second cancels `hard_stop`. The handlers are
/// installed before this returns, so a Ctrl-C as soon as a command says it is ready (the
/// gateway's "listening" line) is already the command's, never the default kill.
fn watch_signals(stop: CancellationToken, hard_stop: CancellationToken) {
    let Some(mut signals) = Signals::install() else {
        return;
    };
    tokio::spawn(async move {
        for n in 0..2 {
            signals.next().await;
            if n == 0 {
                crate::util::term::message("agentstorm: stopping: no new arrivals, signing agents out (press Ctrl-C again to stop at once)");
                stop.cancel();
            } else {
                crate::util::term::message(
                    "agentstorm: stopping at once; writing what was recorded",
                );
                hard_stop.cancel();
            }
        }
    });
}

/// SIGINT and SIGTERM, watched from the moment they are installed.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// None if signals cannot be watched.
    fn install() -> Option<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Signals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Option<Signals> {
        Some(Signals)
    }

    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
