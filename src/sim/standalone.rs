//! `agentstorm gateway`: the simulated gateway on its own, for rehearsing scenarios and
//! testing agent clients. Loads the behaviour model (`--config FILE`, the `[gateway]`
//! keys at top level) with the command line's overrides (`--nodes`, `--stickiness`), sets
//! up TLS (generated or from PEM files), binds, prints one ready line and serves until
//! cancelled.
//!
//! The CLI (clap) lives elsewhere and calls [`run`]; this file owns option semantics and
//! the configuration file's error messages (file:line:column, key, nearest valid key).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::config::{GatewayConfig, KEYS};
use super::{tls, SimGateway};
use crate::util::diag::{line_col, nearest, one_line, toml_words};

/// Options of `agentstorm gateway`.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub config: Option<PathBuf>,
    pub plain_http: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Write the serving certificate (PEM) here, for clients to trust.
    pub cert_out: Option<PathBuf>,
}

/// Behaviour-model keys set on the command line, over the configuration file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--nodes N`: cluster mode with N nodes (D19).
    pub nodes: Option<u32>,
    /// `--stickiness cookie|guid|none`.
    pub stickiness: Option<String>,
}

impl Overrides {
    /// Sets these keys on `config` (nothing checked but `--stickiness`'s value).
    fn set(&self, config: &mut GatewayConfig) -> anyhow::Result<()> {
        if let Some(n) = self.nodes {
            config.nodes = n;
        }
        if let Some(s) = &self.stickiness {
            config.stickiness = s
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--stickiness: {e}"))?;
        }
        Ok(())
    }

    /// `config` (the default one, no file given) with these keys set, validated. The error
    /// names the options and the key.
    pub fn apply(&self, mut config: GatewayConfig) -> anyhow::Result<GatewayConfig> {
        self.set(&mut config)?;
        if let Some(p) = config.validate().err().and_then(|p| p.into_iter().next()) {
            anyhow::bail!("--nodes/--stickiness: {}: {}", p.key, p.message);
        }
        Ok(config)
    }
}

/// Parses a gateway configuration file's text. The error is one line:
/// `FILE:LINE:COLUMN: message` naming the key (and the nearest valid key for a typo).
pub fn parse_config(text: &str, file: &str) -> anyhow::Result<GatewayConfig> {
    parse_config_with(text, file, &Overrides::default())
}

/// [`parse_config`] with the command line's keys set before validation, so that
/// `--nodes 3` makes a file's `fail_node = { node = 2, … }` valid (and `--nodes 2` makes it
/// an error pointing at `fail_node` in the file).
pub fn parse_config_with(
    text: &str,
    file: &str,
    overrides: &Overrides,
) -> anyhow::Result<GatewayConfig> {
    let mut config: GatewayConfig = match toml::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            let message = toml_words(&one_line(e.message()));
            let hint = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .and_then(|field| nearest(field, KEYS))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            anyhow::bail!("{file}:{line}:{col}: {message}{hint}");
        }
    };
    overrides.set(&mut config)?;
    if let Err(problems) = config.validate() {
        if let Some(p) = problems.first() {
            // The key as written (the text parsed above, so it parses here too).
            let at = toml_edit::ImDocument::parse(text)
                .ok()
                .and_then(|doc| doc.as_table().key(p.key).and_then(|k| k.span()))
                .map_or(0, |span| span.start);
            let (line, col) = line_col(text, at);
            anyhow::bail!("{file}:{line}:{col}: {}: {}", p.key, p.message);
        }
    }
    Ok(config)
}

/// Reads and parses a gateway configuration file (see [`parse_config`]).
pub fn load_config(path: &Path) -> anyhow::Result<GatewayConfig> {
    load_config_with(path, &Overrides::default())
}

/// [`load_config`] with the command line's keys (see [`parse_config_with`]).
pub fn load_config_with(path: &Path, overrides: &Overrides) -> anyhow::Result<GatewayConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read gateway configuration", path.display()))?;
    parse_config_with(&text, &path.display().to_string(), overrides)
}

/// Runs the gateway until `shutdown`. Prints `gateway listening on https://ADDR` (or
/// `http://`) to stdout once it accepts connections.
pub async fn run(opts: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(opts, Overrides::default(), shutdown).await
}

/// [`run`] with command-line overrides of the configuration's keys.
pub async fn run_with(
    opts: Options,
    overrides: Overrides,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = match &opts.config {
        Some(path) => load_config_with(path, &overrides)?,
        None => overrides.apply(GatewayConfig::default())?,
    };
    let tls = if opts.plain_http {
        if opts.cert.is_some() || opts.key.is_some() || opts.cert_out.is_some() {
            anyhow::bail!("--plain-http cannot be combined with --cert, --key or --cert-out");
        }
        None
    } else {
        let (server_config, cert_pem) = match (&opts.cert, &opts.key) {
            (Some(cert), Some(key)) => {
                let pem = std::fs::read_to_string(cert)
                    .with_context(|| format!("reading certificate file {}", cert.display()))?;
                (tls::from_pem_files(cert, key)?, pem)
            }
            (None, None) => {
                let s = tls::self_signed()?;
                (s.server_config, s.cert_pem)
            }
            _ => anyhow::bail!("--cert and --key must be given together"),
        };
        if let Some(out) = &opts.cert_out {
            std::fs::write(out, cert_pem)
                .with_context(|| format!("writing certificate to {}", out.display()))?;
        }
        Some(server_config)
    };
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if config.nodes > 1 {
        println!(
            "gateway cluster of {} nodes, stickiness {}",
            config.nodes,
            config.stickiness.name()
        );
    }
    println!("gateway listening on {scheme}://{addr}");
    SimGateway::new(config)
        .serve(listener, tls, shutdown)
        .await
        .context("serving")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_column_and_key() {
        let err = parse_config("poll_wait = \"1s\"\npol_wait = \"2s\"\n", "gw.toml")
            .expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.starts_with("gw.toml:2:1: "), "{msg}");
        assert!(
            msg.contains("pol_wait") && msg.contains("did you mean `poll_wait`"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));

        let err = parse_config("\n\npoll_wait = \"ten\"\n", "gw.toml").expect_err("bad duration");
        assert!(err.to_string().starts_with("gw.toml:3:13: "), "{err}");

        let err = parse_config("agent_id_min = 500\n  agent_id_max = 200\n", "gw.toml")
            .expect_err("min above max");
        assert!(
            err.to_string().starts_with("gw.toml:1:1: agent_id_min: "),
            "{err}"
        );

        let cfg = parse_config("poll_wait = \"250ms\"\nauth_mode = \"static\"\n", "gw.toml")
            .expect("valid");
        assert_eq!(cfg.poll_wait.get().as_millis(), 250);

        let err = parse_config(
            "nodes = 2\nfail_node = { node = 2, at = \"1s\", for = \"1s\" }\n",
            "gw.toml",
        )
        .expect_err("node out of range");
        assert!(
            err.to_string()
                .starts_with("gw.toml:2:1: fail_node: entry 1: node 2"),
            "{err}"
        );

        let err = parse_config("poll_wait = \"1s\"\ndialect = \"bogus\"\n", "gw.toml")
            .expect_err("unknown dialect");
        let msg = err.to_string();
        assert!(msg.starts_with("gw.toml:2:11: "), "{msg}");
        for valid in ["`newest`", "`devguide`", "`older`"] {
            assert!(msg.contains(valid), "{msg}");
        }
    }

    #[test]
    fn command_line_overrides_are_validated_with_the_file() {
        let set = |nodes, stickiness: Option<&str>| Overrides {
            nodes,
            stickiness: stickiness.map(str::to_string),
        };
        // The file alone is one node, so its node 2 does not exist; --nodes 3 makes it.
        let text = "poll_wait = \"1s\"\nfail_node = { node = 2, at = \"1s\", for = \"1s\" }\n";
        assert!(parse_config(text, "gw.toml").is_err());
        let c = parse_config_with(text, "gw.toml", &set(Some(3), Some("guid"))).expect("3 nodes");
        assert_eq!((c.nodes, c.stickiness.name()), (3, "guid"));
        let err = parse_config_with(text, "gw.toml", &set(Some(2), None)).expect_err("node 2");
        assert!(
            err.to_string()
                .starts_with("gw.toml:2:1: fail_node: entry 1: node 2"),
            "{err}"
        );
        let err = parse_config_with(text, "gw.toml", &set(Some(3), Some("sticky")))
            .expect_err("bad mode");
        assert!(err.to_string().starts_with("--stickiness: "), "{err}");
        // Without a file: the defaults with the options.
        let c = set(Some(4), None)
            .apply(GatewayConfig::default())
            .expect("4 nodes");
        assert_eq!(c.nodes, 4);
        let err = set(Some(99), None)
            .apply(GatewayConfig::default())
            .expect_err("99");
        assert!(
            err.to_string().starts_with("--nodes/--stickiness: nodes: "),
            "{err}"
        );
    }
}
