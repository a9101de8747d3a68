//! `qtomo bases`: list the built-in measurement sets and their labels.

use crate::tomo::sets::{james16, pauli, qudit};
use clap::Args;
use std::io::Write;

/// Arguments of `qtomo bases`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo bases --qubits 2")]
pub(crate) struct BasesArgs {
    /// List the labels of pauli with this many qubits (1 to 6; default 1), one per line.
    #[arg(long, value_parser = parse_qubits)]
    pub qubits: Option<usize>,
    /// List the labels of qudit with this dimension (2 to 64; default 2), one per line.
    #[arg(long, value_parser = parse_dim)]
    pub dim: Option<usize>,
    /// Print the sets as JSON: `{"sets":[{"name","size_option","min","max",
    /// "size","projectors","grouped","labels"}]}`, every label listed.
    #[arg(long)]
    pub json: bool,
}

/// One measurement set in `bases --json`.
#[derive(serde::Serialize)]
struct SetJson {
    /// `pauli`, `qudit` or `james16`.
    name: &'static str,
    /// The option that sets its size (`--qubits`, `--dim`), if any.
    size_option: Option<&'static str>,
    /// Smallest size allowed.
    min: Option<usize>,
    /// Largest size allowed.
    max: Option<usize>,
    /// The size the labels are for.
    size: Option<usize>,
    /// Number of projectors (= labels).
    projectors: usize,
    /// True when the projectors are grouped into complete settings.
    grouped: bool,
    /// Every label, in order.
    labels: Vec<String>,
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
pub(crate) fn run(args: BasesArgs) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout().lock();
    // Both are in range: clap checked them (parse_qubits, parse_dim).
    let n = args.qubits.unwrap_or(1);
    let d = args.dim.unwrap_or(2);
    if args.json {
        let pl = pauli::labels(n);
        let ql = qudit::labels(d);
        let sets = [
            SetJson {
                name: "pauli",
                size_option: Some("--qubits"),
                min: Some(1),
                max: Some(pauli::MAX_QUBITS),
                size: Some(n),
                projectors: pl.len(),
                grouped: true,
                labels: pl,
            },
            SetJson {
                name: "qudit",
                size_option: Some("--dim"),
                min: Some(2),
                max: Some(qudit::MAX_DIM),
                size: Some(d),
                projectors: ql.len(),
                grouped: false,
                labels: ql,
            },
            SetJson {
                name: "james16",
                size_option: None,
                min: None,
                max: None,
                size: None,
                projectors: james16::LABELS.len(),
                grouped: false,
                labels: james16::LABELS.iter().map(|l| l.to_string()).collect(),
            },
        ];
        serde_json::to_writer(&mut *out, &serde_json::json!({ "sets": sets }))?;
        writeln!(out)?;
        return Ok(crate::cli::exit_codes::OK);
    }
    // Text: each set's description, then its labels one per line (a
    // 6-qubit set is 46,656 lines, not one line of 400 kB).
    writeln!(
        out,
        "pauli    n qubits (1..={}), 3^n settings × 2^n outcomes, grouped (multinomial);",
        pauli::MAX_QUBITS
    )?;
    writeln!(
        out,
        "         labels S1..Sn:b1..bn, qubit 1 first; bit 0 = +1 eigenstate; Y:0 = (|0⟩+i|1⟩)/√2"
    )?;
    print_labels(out, &format!("n={n}"), &pauli::labels(n))?;
    writeln!(
        out,
        "qudit    dimension d (2..={}), d² projectors |j⟩, (|j⟩+|k⟩)/√2, (|j⟩+i|k⟩)/√2;",
        qudit::MAX_DIM
    )?;
    writeln!(out, "         ungrouped (free intensity)")?;
    print_labels(out, &format!("d={d}"), &qudit::labels(d))?;
    writeln!(
        out,
        "james16  two photons, 16 projectors of James et al., PRA 64 052312 (2001);"
    )?;
    writeln!(
        out,
        "         ungrouped (free intensity); |D⟩=(|H⟩+|V⟩)/√2, |R⟩=(|H⟩−i|V⟩)/√2, |L⟩=(|H⟩+i|V⟩)/√2"
    )?;
    let jl: Vec<String> = james16::LABELS.iter().map(|l| l.to_string()).collect();
    print_labels(out, "photon 1 first", &jl)?;
    writeln!(
        out,
        "FILE     a kets CSV: label, then q<s>_re<j>,q<s>_im<j> per subsystem or re<j>,im<j>;"
    )?;
    writeln!(out, "         an optional `setting` column groups rows")?;
    Ok(crate::cli::exit_codes::OK)
}

/// Prints `N labels:` after `what`, then each label on its own line.
fn print_labels(out: &mut impl Write, what: &str, labels: &[String]) -> std::io::Result<()> {
    writeln!(out, "         {what}: {} labels:", labels.len())?;
    for label in labels {
        writeln!(out, "           {label}")?;
    }
    Ok(())
}
