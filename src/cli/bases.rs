//! `qtomo bases`: list the built-in measurement sets and their labels.

use crate::tomo::sets::{james16, pauli, qudit};
use clap::Args;
use std::io::Write;

/// Arguments of `qtomo bases`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo bases --qubits 2")]
pub struct BasesArgs {
    /// Print the full label list for pauli with this many qubits (1 to 6).
    #[arg(long, value_parser = parse_qubits)]
    pub qubits: Option<usize>,
    /// Print the full label list for qudit with this dimension (2 to 64).
    #[arg(long, value_parser = parse_dim)]
    pub dim: Option<usize>,
}

/// `--qubits`: a whole number in `1..=pauli::MAX_QUBITS`.
fn parse_qubits(s: &str) -> Result<usize, String> {
    parse_in(s, 1, pauli::MAX_QUBITS, "pauli supports", "qubits")
}

/// `--dim`: a whole number in `2..=qudit::MAX_DIM`.
fn parse_dim(s: &str) -> Result<usize, String> {
    parse_in(s, 2, qudit::MAX_DIM, "qudit supports dimension", "")
}

fn parse_in(s: &str, min: usize, max: usize, what: &str, unit: &str) -> Result<usize, String> {
    let range = format!(
        "{what} {min} to {max}{}{unit}",
        if unit.is_empty() { "" } else { " " }
    );
    match s.trim().parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) => Err(range),
        Err(_) => Err(format!("expected a whole number ({range})")),
    }
}

/// Runs `qtomo bases`.
pub fn run(args: BasesArgs) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout().lock();
    // Both are in range: clap checked them (parse_qubits, parse_dim).
    let n = args.qubits.unwrap_or(1);
    let d = args.dim.unwrap_or(2);
    let pl = pauli::labels(n);
    writeln!(
        out,
        "pauli    n qubits (1..={}), 3^n settings × 2^n outcomes, grouped (multinomial)",
        pauli::MAX_QUBITS
    )?;
    writeln!(
        out,
        "         labels S1..Sn:b1..bn, qubit 1 first; bit 0 = +1 eigenstate; Y:0 = (|0⟩+i|1⟩)/√2"
    )?;
    writeln!(
        out,
        "         n={n}: {} labels: {}",
        pl.len(),
        preview(&pl, args.qubits.is_some())
    )?;
    let ql = qudit::labels(d);
    writeln!(
        out,
        "qudit    dimension d (2..={}), d² projectors |j⟩, (|j⟩+|k⟩)/√2, (|j⟩+i|k⟩)/√2, ungrouped (free intensity)",
        qudit::MAX_DIM
    )?;
    writeln!(
        out,
        "         d={d}: {} labels: {}",
        ql.len(),
        preview(&ql, args.dim.is_some())
    )?;
    writeln!(
        out,
        "james16  two photons, 16 projectors of James et al., PRA 64 052312 (2001), ungrouped (free intensity)"
    )?;
    writeln!(
        out,
        "         |D⟩=(|H⟩+|V⟩)/√2, |R⟩=(|H⟩−i|V⟩)/√2, |L⟩=(|H⟩+i|V⟩)/√2; labels: {}",
        james16::LABELS.join(" ")
    )?;
    writeln!(
        out,
        "FILE     a kets CSV: label, then q<s>_re<j>,q<s>_im<j> per subsystem or re<j>,im<j>; optional `setting` column groups rows"
    )?;
    Ok(crate::cli::exit_codes::OK)
}

fn preview(labels: &[String], full: bool) -> String {
    if full || labels.len() <= 8 {
        labels.join(" ")
    } else {
        format!(
            "{} … {}",
            labels[..4].join(" "),
            labels[labels.len() - 2..].join(" ")
        )
    }
}
