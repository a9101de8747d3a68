//! The process-wide part of a run: signal handlers and systemd
//! notifications around the steps of [`crate::run`] — the input read on a
//! helper thread while signals are watched, then execution and summary.

use super::error::RunError;
use super::plan::RunPlan;
use super::resume::Resumed;
use super::summary::{self, Report};
use super::{execute, progress};
use crate::supervisor::notify::Notifier;
use crate::supervisor::signals::{SignalEvent, SignalHandler, SignalHandlerKind};
use std::time::{Duration, Instant};

/// How often systemd is asked for more start-up time while the input is
/// read (`EXTEND_TIMEOUT_USEC`).
const INGEST_EXTEND_EVERY: Duration = Duration::from_secs(10);
/// How much more start-up time systemd is asked for each time.
const INGEST_EXTEND_BY: Duration = Duration::from_secs(30);

/// A run's process-wide setup: signal handlers and the systemd notifier.
///
/// Signal handlers are installed first, before the input is read, so a
/// SIGTERM during a long ingest ends the run cleanly (nothing written)
/// instead of killing the process. Under systemd, [`Session::end`] reports
/// an error as `STATUS=` and every run ends with `STOPPING=1`.
pub(crate) struct Session {
    /// Installed before the input is read; handed to the executors.
    signals: SignalHandler,
    /// systemd's notify socket, when the run is a `Type=notify` service.
    notifier: Option<Notifier>,
}

impl Session {
    /// Installs the signal handlers and connects to systemd, if it listens.
    pub(crate) fn start() -> Result<Self, RunError> {
        let signals =
            SignalHandler::new(SignalHandlerKind::Standard).map_err(RunError::InstallSignals)?;
        if signals.hangup_ignored() {
            tracing::info!("SIGHUP is ignored (nohup): a hang-up will not stop this run");
        }
        let notifier = Notifier::from_env().ok().flatten();
        Ok(Self { signals, notifier })
    }

    /// Runs `prepare` (which reads and checks the input) on a helper thread
    /// while this (main) thread watches for signals and keeps systemd's
    /// start timeout extended. `Ok(None)`: a shutdown signal came first;
    /// nothing was written. `Ok(Some(result))`: what `prepare` returned.
    pub(crate) fn plan<E: Send + 'static>(
        &mut self,
        prepare: impl FnOnce() -> Result<RunPlan, E> + Send + 'static,
    ) -> Result<Option<Result<RunPlan, E>>, RunError> {
        let ingest = std::thread::Builder::new()
            .name("qtomo-ingest".into())
            .spawn(prepare)
            .map_err(RunError::IngestThread)?;
        let mut last_extend: Option<Instant> = None;
        loop {
            if let Some(n) = &self.notifier
                && last_extend.is_none_or(|t| t.elapsed() >= INGEST_EXTEND_EVERY)
            {
                last_extend = Some(Instant::now());
                let _ = n.extend_timeout(INGEST_EXTEND_BY);
                let _ = n.status("reading the input");
            }
            if ingest.is_finished() {
                return match ingest.join() {
                    Ok(plan) => Ok(Some(plan)),
                    Err(_) => Err(RunError::IngestPanicked),
                };
            }
            match self
                .signals
                .recv_timeout(Duration::from_millis(50))
                .map_err(RunError::WaitSignals)?
            {
                Some(SignalEvent::Shutdown(sig)) => {
                    // The ingest thread is left to die with the process:
                    // make sure it is not holding a segment's name then.
                    crate::supervisor::shm::forbid_new_segments();
                    tracing::warn!(
                        signal = sig.name(),
                        "signal received while reading the input: stopping; nothing was written"
                    );
                    return Ok(None);
                }
                Some(SignalEvent::Status) => tracing::info!("status: reading the input"),
                Some(SignalEvent::AddWorker | SignalEvent::RemoveWorker) | None => {}
            }
        }
    }

    /// Executes the pending samples of an opened run and concludes it:
    /// summary.json is written whatever happened (unless nothing was left
    /// to compute and the previous summary says the same).
    pub(crate) fn execute(
        &mut self,
        plan: &RunPlan,
        resumed: &Resumed,
        quiet: bool,
    ) -> Result<Report, RunError> {
        let log = resumed.open.dir.results_log();
        let range = &plan.range;
        tracing::info!(
            dir = %plan.out.display(),
            opened = ?resumed.open.opened,
            samples = range.end - range.start,
            pending = resumed.pending.len(),
            basis = %plan.set.info().name,
            cond = plan.set.cond(),
            "run started"
        );
        let planned = resumed.pending.len();
        let mut progress = progress::Progress::new(planned as u64, quiet);
        let executed = execute::execute(
            plan,
            resumed.pending.clone(),
            &log,
            &mut progress,
            &mut self.signals,
            self.notifier.as_ref(),
        )?;
        progress.finish();
        summary::conclude(
            plan,
            &log,
            executed,
            planned,
            progress.done(),
            resumed.started,
        )
    }

    /// Ends the session: under systemd, reports `error` (the run's error
    /// as one line, if it failed) as `STATUS=` and sends `STOPPING=1`.
    pub(crate) fn end(self, error: Option<&str>) {
        if let Some(n) = &self.notifier {
            if let Some(e) = error {
                let _ = n.status(&format!("qtomo: error: {e}"));
            }
            let _ = n.stopping();
        }
    }
}
