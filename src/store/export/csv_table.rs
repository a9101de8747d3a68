//! The CSV export: one row per sample and method, scalar metrics only.

use crate::store::PathIoError;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::*;

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "index",
    "id",
    "status",
    "error",
    "method",
    "dim",
    "trace",
    "purity",
    "von_neumann_entropy",
    "linear_entropy",
    "min_eigenvalue",
    "max_eigenvalue",
    "log_likelihood",
    "gap_bound",
    "gap_floor",
    "iterations",
    "converged",
    "chi2",
    "fidelity",
    "trace_distance",
    "concurrence",
    "negativity",
    "log_negativity",
    "physical",
    "g2",
    "gof_dof",
    "p_value",
    "p_value_bootstrap",
    "p_value_boundary",
    "bootstrap_kind",
    "bootstrap_replicates",
    "bootstrap_failed",
    "purity_std",
    "purity_q025",
    "purity_q975",
    "von_neumann_entropy_std",
    "von_neumann_entropy_q025",
    "von_neumann_entropy_q975",
    "linear_entropy_std",
    "linear_entropy_q025",
    "linear_entropy_q975",
    "fidelity_std",
    "fidelity_q025",
    "fidelity_q975",
    "trace_distance_std",
    "trace_distance_q025",
    "trace_distance_q975",
    "concurrence_std",
    "concurrence_q025",
    "concurrence_q975",
    "negativity_std",
    "negativity_q025",
    "negativity_q975",
];

#[derive(Serialize, Default)]
struct CsvRow<'a> {
    index: u64,
    id: Option<&'a str>,
    status: &'a str,
    error: Option<&'a str>,
    method: Option<&'a str>,
    dim: Option<u32>,
    trace: Option<f64>,
    purity: Option<f64>,
    von_neumann_entropy: Option<f64>,
    linear_entropy: Option<f64>,
    min_eigenvalue: Option<f64>,
    max_eigenvalue: Option<f64>,
    log_likelihood: Option<f64>,
    gap_bound: Option<f64>,
    gap_floor: Option<f64>,
    iterations: Option<u32>,
    converged: Option<bool>,
    chi2: Option<f64>,
    fidelity: Option<f64>,
    trace_distance: Option<f64>,
    concurrence: Option<f64>,
    negativity: Option<f64>,
    log_negativity: Option<f64>,
    physical: Option<bool>,
    g2: Option<f64>,
    gof_dof: Option<i64>,
    p_value: Option<f64>,
    p_value_bootstrap: Option<f64>,
    p_value_boundary: Option<f64>,
    bootstrap_kind: Option<&'a str>,
    bootstrap_replicates: Option<u32>,
    bootstrap_failed: Option<u32>,
    purity_std: Option<f64>,
    purity_q025: Option<f64>,
    purity_q975: Option<f64>,
    von_neumann_entropy_std: Option<f64>,
    von_neumann_entropy_q025: Option<f64>,
    von_neumann_entropy_q975: Option<f64>,
    linear_entropy_std: Option<f64>,
    linear_entropy_q025: Option<f64>,
    linear_entropy_q975: Option<f64>,
    fidelity_std: Option<f64>,
    fidelity_q025: Option<f64>,
    fidelity_q975: Option<f64>,
    trace_distance_std: Option<f64>,
    trace_distance_q025: Option<f64>,
    trace_distance_q975: Option<f64>,
    concurrence_std: Option<f64>,
    concurrence_q025: Option<f64>,
    concurrence_q975: Option<f64>,
    negativity_std: Option<f64>,
    negativity_q025: Option<f64>,
    negativity_q975: Option<f64>,
}

pub(super) fn csv_to_file(mut source: Source<'_>, out: &Path) -> Result<ExportStats, ExportError> {
    let (temp, file) = create_temp(out)?;
    let mut buffered = BufWriter::with_capacity(1 << 20, file);
    let stats = write_csv(&mut source, &mut buffered, out)?;
    temp.commit(finish_writer(buffered, out)?)?;
    Ok(stats)
}

/// Writes every row of `source` as CSV (header first) to `out_w`.
pub(super) fn write_csv(
    source: &mut Source<'_>,
    out_w: &mut impl Write,
    out: &Path,
) -> Result<ExportStats, ExportError> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out_w);
    let csv_err = |source| ExportError::Csv {
        path: out.to_path_buf(),
        source,
    };
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    let stats = source.for_each_row(|row| {
        let base = CsvRow {
            index: row.index(),
            id: row.id(),
            status: row.status(),
            error: row.error(),
            ..CsvRow::default()
        };
        if row.methods().is_empty() {
            return w.serialize(&base).map_err(csv_err);
        }
        for m in row.methods() {
            let k = &m.metrics;
            let min = k.eigenvalues.iter().copied().reduce(f64::min);
            let max = k.eigenvalues.iter().copied().reduce(f64::max);
            let bm = m.bootstrap.as_ref().map(|b| b.metrics);
            w.serialize(CsvRow {
                method: Some(&m.method),
                dim: Some(m.dim),
                trace: Some(k.trace),
                purity: Some(k.purity),
                von_neumann_entropy: Some(k.von_neumann_entropy),
                linear_entropy: Some(k.linear_entropy),
                min_eigenvalue: min,
                max_eigenvalue: max,
                log_likelihood: k.log_likelihood,
                gap_bound: k.gap_bound,
                gap_floor: k.gap_floor,
                iterations: k.iterations,
                converged: k.converged,
                chi2: k.chi2,
                fidelity: k.fidelity,
                trace_distance: k.trace_distance,
                concurrence: k.concurrence,
                negativity: k.negativity,
                log_negativity: k.log_negativity,
                physical: Some(k.physical),
                g2: m.gof.map(|g| g.g2),
                gof_dof: m.gof.map(|g| g.dof),
                p_value: m.gof.and_then(|g| g.p_value),
                p_value_bootstrap: m.gof.and_then(|g| g.p_value_bootstrap),
                p_value_boundary: m.gof.and_then(|g| g.p_value_boundary),
                bootstrap_kind: m.bootstrap.as_ref().map(|b| b.kind.as_str()),
                bootstrap_replicates: m.bootstrap.as_ref().map(|b| b.replicates),
                bootstrap_failed: m.bootstrap.as_ref().map(|b| b.failed),
                purity_std: bm.and_then(|b| b.purity).map(|s| s.std),
                purity_q025: bm.and_then(|b| b.purity).map(|s| s.q025),
                purity_q975: bm.and_then(|b| b.purity).map(|s| s.q975),
                von_neumann_entropy_std: bm.and_then(|b| b.entropy).map(|s| s.std),
                von_neumann_entropy_q025: bm.and_then(|b| b.entropy).map(|s| s.q025),
                von_neumann_entropy_q975: bm.and_then(|b| b.entropy).map(|s| s.q975),
                linear_entropy_std: bm.and_then(|b| b.linear_entropy).map(|s| s.std),
                linear_entropy_q025: bm.and_then(|b| b.linear_entropy).map(|s| s.q025),
                linear_entropy_q975: bm.and_then(|b| b.linear_entropy).map(|s| s.q975),
                fidelity_std: bm.and_then(|b| b.fidelity).map(|s| s.std),
                fidelity_q025: bm.and_then(|b| b.fidelity).map(|s| s.q025),
                fidelity_q975: bm.and_then(|b| b.fidelity).map(|s| s.q975),
                trace_distance_std: bm.and_then(|b| b.trace_distance).map(|s| s.std),
                trace_distance_q025: bm.and_then(|b| b.trace_distance).map(|s| s.q025),
                trace_distance_q975: bm.and_then(|b| b.trace_distance).map(|s| s.q975),
                concurrence_std: bm.and_then(|b| b.concurrence).map(|s| s.std),
                concurrence_q025: bm.and_then(|b| b.concurrence).map(|s| s.q025),
                concurrence_q975: bm.and_then(|b| b.concurrence).map(|s| s.q975),
                negativity_std: bm.and_then(|b| b.negativity).map(|s| s.std),
                negativity_q025: bm.and_then(|b| b.negativity).map(|s| s.q025),
                negativity_q975: bm.and_then(|b| b.negativity).map(|s| s.q975),
                ..base
            })
            .map_err(csv_err)?;
        }
        Ok(())
    })?;
    w.flush().map_err(|source| {
        ExportError::Io(PathIoError {
            action: "write",
            path: out.to_path_buf(),
            source,
        })
    })?;
    Ok(stats)
}
