//! Messages on the terminal while a live status line is drawn: a message goes on its own
//! line above the status line (which is then redrawn below it), never glued to it. The
//! live line registers itself here while it is shown; with none, a message is a plain
//! line on stderr. The diagnostics writer (`tracing`) goes through here too.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;

static LIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Registers (or with None, removes) the live status line messages must go above.
pub fn set_live(bar: Option<ProgressBar>) {
    if let Ok(mut live) = LIVE.lock() {
        *live = bar;
    }
}

/// Prints one message on stderr on a line of its own.
pub fn message(text: &str) {
    let live = LIVE.lock().ok().and_then(|l| l.clone());
    match live {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// A writer for `tracing_subscriber::fmt().with_writer(…)`: each event is written whole,
/// above the live line when one is drawn.
pub fn writer() -> Stderr {
    Stderr(Vec::new())
}

/// Collects one diagnostics event and prints it when dropped.
pub struct Stderr(Vec<u8>);

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        message(text.trim_end_matches('\n'));
    }
}
