//! Progress reporting: an indicatif bar on a terminal, a status line every
//! few seconds otherwise (journald, Slurm output files), nothing with `--quiet`.
//! While the bar is shown, every line on stderr (tracing's and `say!`'s)
//! is written above it (see [`crate::stderr::set_progress_bar`]).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain status line is written off a terminal.
pub(crate) const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Progress of one run.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    total: u64,
    done: u64,
    failed: u64,
    restarts: u64,
    start: Instant,
    last_line: Instant,
}

impl Progress {
    /// Starts reporting on `total` samples to run.
    pub(crate) fn new(total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            // Log lines are written above the bar, not onto it.
            crate::stderr::set_progress_bar(Some(bar.clone()));
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            quiet,
            total,
            done: 0,
            failed: 0,
            restarts: 0,
            start: now,
            last_line: now,
        }
    }

    /// One sample finished (ok or failed).
    pub(crate) fn sample(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        self.update();
    }

    /// Samples finished so far (ok or failed).
    pub(crate) fn done(&self) -> u64 {
        self.done
    }

    /// A worker was restarted.
    pub(crate) fn restart(&mut self) {
        self.restarts += 1;
        self.update();
    }

    /// The one-line status: done/total, rate, ETA, failures, restarts.
    pub(crate) fn line(&self) -> String {
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / elapsed;
        let eta = if rate > 0.0 {
            (self.total - self.done.min(self.total)) as f64 / rate
        } else {
            f64::INFINITY
        };
        format!(
            "{}/{} samples, {:.1}/s, ETA {}, {} failed, {} worker restarts",
            self.done,
            self.total,
            rate,
            if eta.is_finite() {
                format!("{eta:.0} s")
            } else {
                "unknown".into()
            },
            self.failed,
            self.restarts
        )
    }

    fn update(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(format!(
                "{} failed, {} restarts",
                self.failed, self.restarts
            ));
        } else if !self.quiet && self.last_line.elapsed() >= LINE_INTERVAL {
            self.last_line = Instant::now();
            tracing::info!("progress: {}", self.line());
        }
    }

    /// Ends the bar; stderr is written directly again.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            crate::stderr::set_progress_bar(None);
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A run that ends early (an error) leaves no bar behind either.
    fn drop(&mut self) {
        self.finish();
    }
}
