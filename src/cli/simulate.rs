//! `qtomo simulate`: write a batch of simulated counts.

use crate::cli::basis;
use crate::cli::error::CliError;
use crate::tomo::simulate::{self, StateKind};
use crate::tomo::{MeasurementSet, hermitian};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `qtomo simulate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  qtomo simulate --basis pauli --qubits 2 --samples 1000 --shots 1000 --state random-mixed --seed 1 --out data.csv --truth truth.npy"
)]
pub(crate) struct SimulateArgs {
    // --basis, --qubits, --dim (shared with run).
    #[command(flatten)]
    pub set: basis::SetArgs,
    // --readout, --scale, --background (shared with run): counts are drawn through the effects;
    // (N, M) rows give each sample its own.
    #[command(flatten)]
    pub model: crate::cli::model::ModelArgs,
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    pub samples: u64,
    /// Shots per setting (grouped sets) or mean counts per projector at probability 1 (ungrouped sets); at least 1.
    #[arg(long, default_value_t = 1000, value_parser = parse_shots)]
    pub shots: u64,
    /// True state: random-mixed, random-pure, bell, ghz, w or bell-drift.
    #[arg(long, default_value = "random-mixed")]
    pub state: String,
    /// Seed; sample i depends only on (seed, i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file: .csv (header `sample,<labels>`) or .npy (N×M float64); `-` writes the CSV to standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the true states as an N×d×d complex128 NPY file.
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

/// `--shots`: a whole number, at least 1 (no shots would be all-zero counts).
fn parse_shots(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 (0 shots give all-zero counts)".into()),
        Ok(v) => Ok(v),
        Err(_) => Err("expected a whole number of shots, at least 1".into()),
    }
}

/// Refuses options that the chosen basis would silently ignore.
fn check_size_options(args: &SimulateArgs) -> Result<(), CliError> {
    basis::check_size_options(&args.set.basis, args.set.qubits, args.set.dim)?;
    if args.truth.as_ref().is_some_and(|t| t.as_os_str() == "-") {
        return Err(CliError::Usage(
            "--truth - is not supported: the true states are an NPY file; give a path".into(),
        ));
    }
    Ok(())
}

/// Runs `qtomo simulate`.
pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    let kind: StateKind = args.state.parse().map_err(CliError::from)?;
    if args.samples == 0 {
        return Err(CliError::Usage("--samples must be at least 1".into()).into());
    }
    check_size_options(&args)?;
    let set = basis::resolve(
        &args.set.basis,
        args.set
            .qubits
            .or(Some(2))
            .filter(|_| args.set.basis == "pauli"),
        args.set.dim,
        None,
        !args.model.is_empty(),
    )?;
    let model = args.model.resolve(set)?;
    let set = model.set;
    let view = set.view();
    let (m, d) = (set.len(), set.dim());
    let n = args.samples as usize;
    if let Some(rows) = &model.per_sample {
        rows.check_samples(n, &format!("--samples {n}"), m)?;
    }
    let mut counts = vec![0.0; n * m];
    let mut truth = args
        .truth
        .as_ref()
        .map(|_| vec![faer::c64::new(0.0, 0.0); n * d * d]);
    for i in 0..n {
        // With (N, M) model rows, sample i is drawn through its own set.
        let own = model
            .per_sample
            .as_ref()
            .map(|rows| rows.sample_set(&set, i))
            .transpose()?;
        let rho = simulate::simulate_in_batch(
            own.as_ref().map_or(view, MeasurementSet::view),
            kind,
            args.shots,
            args.seed,
            i as u64,
            args.samples,
            &mut counts[i * m..(i + 1) * m],
        )
        .map_err(CliError::from)?;
        if let Some(t) = truth.as_mut() {
            let mat = hermitian::matrix_from_coords(&rho);
            for r in 0..d {
                for c in 0..d {
                    t[i * d * d + r * d + c] = mat[(r, c)];
                }
            }
        }
    }
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    if args.out.as_os_str() == "-" {
        let stdout = std::io::BufWriter::new(std::io::stdout().lock());
        crate::io::write_samples_csv_to(
            stdout,
            std::path::Path::new("standard output"),
            set.labels(),
            &ids,
            &counts,
        )
    } else if args.out.extension().is_some_and(|e| e == "npy") {
        crate::io::write_samples_npy(&args.out, n, m, &counts)
    } else {
        crate::io::write_samples_csv(&args.out, set.labels(), &ids, &counts)
    }?; // OutputError names the file (or "standard output") itself.
    if let (Some(path), Some(t)) = (&args.truth, truth) {
        let arr = ndarray::Array3::from_shape_vec((n, d, d), t).context("truth array shape")?;
        ndarray_npy::write_npy(path, &arr)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    tracing::info!(samples = n, basis = %set.info().name, out = %args.out.display(), "wrote simulated counts");
    Ok(crate::cli::exit_codes::OK)
}
