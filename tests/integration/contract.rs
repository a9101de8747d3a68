//! The command-line contract, second part (issue 13): exit codes for the
//! remaining mistakes, target metrics after the run, JSON logs, readable
//! `show` and `bases`, input inference, the progress bar. Every run uses
//! `--workers 0` unless it says otherwise.
//!
//! See: issue 13, "Command-line contract: exit codes that mean what the
//! README says, validated values, metrics after the run, JSON everywhere".

use crate::cli::{listing, run_shard, simulate};
use crate::util::Sandbox;

/// `export` of an unfinished run without `--partial` is a usage mistake:
/// exit 2, nothing written, and the message names `--partial`.
#[test]
fn export_of_an_unfinished_run_without_partial_exits_2_naming_partial() {
    let sandbox = Sandbox::new();
    simulate(&sandbox, "data.csv", 1, 6);
    run_shard(&sandbox, "data.csv", "s0", 0);
    let before = listing(&sandbox.join("s0"));
    for format in ["jsonl", "csv", "npy"] {
        sandbox
            .qtomo(["export", "s0", "--format", format])
            .expect_code(2)
            .stderr_has(&["s0", "no record for sample 3", "--partial"]);
    }
    sandbox
        .qtomo(["export", "s0", "--format", "jsonl", "--out", "-"])
        .expect_code(2)
        .stderr_has(&["--partial"]);
    assert_eq!(listing(&sandbox.join("s0")), before, "nothing written");
    sandbox
        .qtomo(["export", "s0", "--format", "jsonl", "--partial"])
        .ok();
}
