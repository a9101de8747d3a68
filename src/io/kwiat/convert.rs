//! The semantics of a Kwiat data document, as Quantum-Tomography 1.2
//! computes them (`_import_data`, `filter_data`, `maxlike_fitness`): the
//! measurement rows and, per row, the count, the scale c_k and the
//! accidental background a_k of the model
//! μ_k = I · c_k · Tr(M_k ρ) + a_k.
//!
//! # Rows
//!
//! Every state [a, b] of `measurement_states` is normalised to (α, β).
//! The package then measures, for qubit q, the *transmitted* ket
//! t = (ᾱ, β) and the *reflected* ket r = (β̄, −α) (the columns of its
//! `meas_pure`, conjugated; t is the state itself up to a phase whenever α
//! is real, as in every example), and an outcome pattern k (bit q of k,
//! qubit 1 most significant: 0 transmitted, 1 reflected) the product ket
//! ⊗_q (t_q or r_q).
//!
//! * One detector per qubit: each `data` entry is one row, the all-
//!   transmitted ket of its `basis`, its count the n-fold coincidence.
//! * Two detectors per qubit: every state needs an orthogonal partner in
//!   `measurement_states` (the first one in file order, exactly
//!   orthogonal); entries whose per-qubit pairs {state, partner} agree
//!   were measured at the same time (one *setting*, grouped in file
//!   order); each setting must hold all 2ⁿ outcome patterns, one entry
//!   each. Each entry is one row: the ket of its pattern relative to the
//!   setting's first entry, its count its n-fold coincidence. (The
//!   package pairs the k-th entry of a setting with pattern k; the two
//!   agree when the entries of a setting come in pattern order, as in the
//!   package's examples.)
//!
//! # Scale
//!
//! c_k = t_k · r_k · e_k: the integration time (the setting's first
//! entry's with two detectors), the relative intensity (`relative_intensity`
//! of the entry, 1 if absent; with one detector all entries or none must
//! have one) and, with two detectors, the relative efficiency
//! `relative_efficiency[d_1]…[d_n]` at the entry's `detectors_used`.
//! With qtomo's own option `intensity_from_singles` the relative
//! intensities come from the singles instead (see
//! `intensities_from_singles`). Quantum-Tomography 1.2 leaves the
//! integration time out of its
//! prediction (it uses it only for accidentals) and ignores
//! `relative_intensity` with two detectors; both are kept apart in
//! [`KwiatSample`] for whoever needs the package's exact numbers.
//!
//! # Background
//!
//! With `do_accidental_correction` (two qubits or more, as in the
//! package), a_k = Π_q s_q · (τ_k · 10⁻⁹ / t_k)ⁿ⁻¹: the product of the
//! singles of the detectors that make coincidence k, τ the coincidence
//! window in ns. One detector per qubit: the entry's n singles
//! (`counts[0..n]`) and `coincidence_window[0]` (the package indexes
//! beyond its singles from three qubits on and fails there; qtomo takes
//! all n). Two detectors: the setting's singles by detector number
//! (`counts[i]` is detector `detectors_used[i]`'s), and the detectors of
//! pattern k numbered as the package numbers them: for n = 2 qubit 1 has
//! detectors 0 (transmitted) and 2, qubit 2 has 1 and 3; in general qubit
//! q < n−1 has 2(n−q)+{0,1} (1-based q), qubit n−1 has 0 and 2, qubit n
//! has 1 and 3. τ_k is `coincidence_window[d_1]…[d_n]` at the entry's
//! detectors (or one number for all); none given means no accidentals.
//!
//! # Crosstalk
//!
//! `crosstalk` C (2ⁿ×2ⁿ, or n 2×2 matrices combined by Kronecker
//! products) turns the projector of pattern k of a setting into
//! M′_k = Σ_l C_kl Π_l / Σ_l C_kl (the package normalises every effect to
//! unit trace, which divides by the row sum). With one detector only row
//! 0 is used.

use faer::c64;
use serde_json::Value;

use super::error::{KwiatError, Origin};
use super::json::{Entry, KwiatFile, Tensor, shown, tensor};
use super::options::KwiatOptions;
use super::{KwiatRows, KwiatSample};

/// Turns a checked document into its rows and its sample.
pub(crate) fn convert(
    file: &KwiatFile,
    opts: &KwiatOptions,
    origin: &Origin,
    id: Option<String>,
) -> Result<(KwiatRows, KwiatSample), KwiatError> {
    let n = file.n_qubits;
    let settings = if file.detectors == 1 {
        (0..file.entries.len()).map(|j| (j, vec![j])).collect()
    } else {
        settings(file, origin)?
    };
    // Per row (= per entry): setting, outcome pattern.
    let m = file.entries.len();
    let mut setting_of = vec![0; m];
    let mut outcome_of = vec![0; m];
    let mut setting_kets = Vec::with_capacity(settings.len());
    for (s, (first, members)) in settings.iter().enumerate() {
        let head = &file.entries[*first];
        for &j in members {
            setting_of[j] = s;
            outcome_of[j] = pattern(&head.basis, &file.entries[j].basis);
        }
        let local: Vec<[[c64; 2]; 2]> = head
            .basis
            .iter()
            .map(|&b| transmit_reflect(file.states[b].1))
            .collect();
        setting_kets.push(
            (0..1usize << n)
                .map(|k| product_ket(&local, k, n))
                .collect::<Vec<_>>(),
        );
    }
    let kets: Vec<Vec<c64>> = (0..m)
        .map(|j| setting_kets[setting_of[j]][outcome_of[j]].clone())
        .collect();
    let labels = labels(file);
    let rows = KwiatRows {
        n_qubits: n,
        detectors_per_qubit: file.detectors,
        labels,
        kets,
        setting: setting_of.clone(),
        outcome: outcome_of.clone(),
        setting_kets,
    };

    // Integration time and relative intensity of each row.
    let head_of = |j: usize| -> &Entry {
        let s = setting_of[j];
        &file.entries[settings[s].0]
    };
    let time: Vec<f64> = (0..m).map(|j| head_of(j).time).collect();
    let given = file
        .entries
        .iter()
        .filter(|e| e.relative_intensity.is_some())
        .count();
    if file.detectors == 1 && given != 0 && given != m {
        let missing = file
            .entries
            .iter()
            .position(|e| e.relative_intensity.is_none())
            .unwrap_or(0);
        return Err(origin.field(
            format!("data[{missing}].relative_intensity"),
            format!(
                "a relative intensity, as {given} other entries have one (all entries or none)"
            ),
            "nothing",
        ));
    }
    let intensity: Vec<f64> = if opts.intensity_from_singles {
        if given != 0 {
            return Err(origin.semantics(
                "intensity_from_singles estimates the relative intensities: the entries must not give relative_intensity too",
            ));
        }
        let from_singles = intensities_from_singles(file, &settings, origin)?;
        (0..m).map(|j| from_singles[setting_of[j]]).collect()
    } else {
        (0..m)
            .map(|j| head_of(j).relative_intensity.unwrap_or(1.0))
            .collect()
    };
    let efficiency = efficiencies(file, origin)?;
    let scale: Vec<f64> = (0..m)
        .map(|j| time[j] * intensity[j] * efficiency[j])
        .collect();
    let background = if opts.accidental_correction {
        accidentals(file, &settings, &setting_of, &outcome_of, &time, origin)?
    } else {
        vec![0.0; m]
    };
    if let Some(c) = &file.crosstalk {
        check_crosstalk(c, file.detectors, origin)?;
    }
    // Finite inputs can still multiply out of range.
    if let Some(k) = (0..m).find(|&k| !(scale[k].is_finite() && background[k].is_finite())) {
        return Err(origin.semantics(format!(
            "data[{k}]: its scale (integration time × relative intensity × efficiency = {}) or accidental background ({}) is not a finite number",
            scale[k], background[k]
        )));
    }
    let counts = file
        .entries
        .iter()
        .map(|e| e.counts[e.counts.len() - 1])
        .collect();
    let sample = KwiatSample {
        id,
        origin: origin.clone(),
        counts,
        scale,
        background,
        integration_time: time,
        relative_intensity: intensity,
        efficiency,
        crosstalk: file.crosstalk.as_ref().map(|c| c.values.clone()),
        drift_correction: opts.drift_correction,
    };
    Ok((rows, sample))
}

/// The normalised state's transmitted and reflected kets, as the package
/// builds them.
fn transmit_reflect(state: [c64; 2]) -> [[c64; 2]; 2] {
    let norm = (state[0].norm_sqr() + state[1].norm_sqr()).sqrt();
    let (a, b) = (state[0] / norm, state[1] / norm);
    [[a.conj(), b], [b.conj(), -a]]
}

/// ⊗_q local[q][bit q of k] (qubit 1 the most significant bit and factor).
fn product_ket(local: &[[[c64; 2]; 2]], k: usize, n: usize) -> Vec<c64> {
    let mut ket = vec![c64::new(1.0, 0.0)];
    for (q, pair) in local.iter().enumerate() {
        let bit = (k >> (n - 1 - q)) & 1;
        let factor = pair[bit];
        ket = ket
            .iter()
            .flat_map(|&x| [x * factor[0], x * factor[1]])
            .collect();
    }
    ket
}

/// The outcome pattern of `basis` relative to its setting's first entry:
/// bit q (qubit 1 most significant) set where the state differs.
fn pattern(head: &[usize], basis: &[usize]) -> usize {
    let n = head.len();
    (0..n)
        .filter(|&q| head[q] != basis[q])
        .fold(0, |k, q| k | 1 << (n - 1 - q))
}

/// Row labels: the entry's state names, concatenated when every state
/// name is one character (`HV`), else joined by commas; a repeated
/// measurement gets `#2`, `#3`, ...
fn labels(file: &KwiatFile) -> Vec<String> {
    let short = file.states.iter().all(|(n, _)| n.chars().count() == 1);
    let mut out: Vec<String> = Vec::with_capacity(file.entries.len());
    for e in &file.entries {
        let names: Vec<&str> = e.basis.iter().map(|&b| file.states[b].0.as_str()).collect();
        let base = if short {
            names.concat()
        } else {
            names.join(",")
        };
        let mut label = base.clone();
        let mut k = 1;
        while out.contains(&label) {
            k += 1;
            label = format!("{base}#{k}");
        }
        out.push(label);
    }
    out
}

/// Whether two kets are exactly orthogonal (within rounding of their
/// inner product), as the package's test that |a⟩⟨a|b⟩⟨b| is zero.
fn orthogonal(a: [c64; 2], b: [c64; 2]) -> bool {
    let inner = a[0].conj() * b[0] + a[1].conj() * b[1];
    let scale =
        (a[0].norm_sqr() + a[1].norm_sqr()).sqrt() * (b[0].norm_sqr() + b[1].norm_sqr()).sqrt();
    inner.norm() <= 1e-12 * scale
}

/// Two detectors per qubit: the settings (simultaneous measurements) as
/// (first entry, members in file order), each complete.
fn settings(file: &KwiatFile, origin: &Origin) -> Result<Vec<(usize, Vec<usize>)>, KwiatError> {
    let n = file.n_qubits;
    let states = &file.states;
    // The partner of each state used: the first orthogonal one.
    let mut partner = vec![None; states.len()];
    for (i, e) in file.entries.iter().enumerate() {
        for (q, &b) in e.basis.iter().enumerate() {
            if partner[b].is_none() {
                let p = (0..states.len()).find(|&o| orthogonal(states[b].1, states[o].1));
                if p.is_none() {
                    return Err(origin.semantics(format!(
                        "data[{i}].basis[{q}]: state '{}' has no orthogonal state in measurement_states; with 2 detectors per qubit every measured state needs one (the other output of its beam splitter)",
                        states[b].0
                    )));
                }
                partner[b] = p;
            }
        }
    }
    let pair = |b: usize| {
        let p = partner[b].unwrap_or(b);
        (b.min(p), b.max(p))
    };
    // (per-qubit {state, partner} pairs, first entry, members)
    type Group = (Vec<(usize, usize)>, usize, Vec<usize>);
    let mut groups: Vec<Group> = Vec::new();
    for (j, e) in file.entries.iter().enumerate() {
        let key: Vec<(usize, usize)> = e.basis.iter().map(|&b| pair(b)).collect();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, members)) => members.push(j),
            None => groups.push((key, j, vec![j])),
        }
    }
    let size = 1usize << n;
    let mut out = Vec::with_capacity(groups.len());
    for (_, first, members) in groups {
        let head = &file.entries[first].basis;
        let mut seen: Vec<Option<usize>> = vec![None; size];
        for &j in &members {
            let k = pattern(head, &file.entries[j].basis);
            if let Some(prev) = seen[k] {
                return Err(origin.semantics(format!(
                    "data[{j}] measures the same outcome as data[{prev}] ({}); with 2 detectors per qubit each setting has one entry per outcome",
                    basis_names(file, j)
                )));
            }
            seen[k] = Some(j);
        }
        if members.len() != size {
            return Err(origin.semantics(format!(
                "the setting of data[{first}] ({}) has {} of its {size} outcomes; with 2 detectors per qubit every setting needs one entry per outcome (each state and its orthogonal partner on every qubit)",
                basis_names(file, first),
                members.len()
            )));
        }
        out.push((first, members));
    }
    Ok(out)
}

/// `H,V`: the state names of entry j.
fn basis_names(file: &KwiatFile, j: usize) -> String {
    file.entries[j]
        .basis
        .iter()
        .map(|&b| file.states[b].0.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The relative efficiency of each row: 1 with one detector per qubit
/// (the package ignores `relative_efficiency` there), else the value at
/// the entry's detectors.
fn efficiencies(file: &KwiatFile, origin: &Origin) -> Result<Vec<f64>, KwiatError> {
    let m = file.entries.len();
    let (Some(v), 2) = (&file.relative_efficiency, file.detectors) else {
        return Ok(vec![1.0; m]);
    };
    let n = file.n_qubits;
    let dims = vec![2 * n; n];
    let table = tensor(
        v,
        &dims,
        "relative_efficiency",
        "a non-negative finite efficiency",
        origin,
        |x| x >= 0.0,
    )?;
    per_detectors(
        file,
        &table,
        "relative_efficiency",
        origin,
        |x| x > 0.0,
        "a positive efficiency",
    )
}

/// The value of `table` at each entry's `detectors_used`, checked by `ok`.
fn per_detectors(
    file: &KwiatFile,
    table: &Tensor,
    field: &str,
    origin: &Origin,
    ok: fn(f64) -> bool,
    expected: &str,
) -> Result<Vec<f64>, KwiatError> {
    file.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let dets = e.detectors.as_deref().unwrap_or(&[]);
            let index: String = dets.iter().map(|d| format!("[{d}]")).collect();
            match table.at(dets) {
                Some(x) if ok(x) => Ok(x),
                Some(x) => Err(origin.field(
                    format!("{field}{index}"),
                    format!("{expected} (used by data[{i}], detectors_used {dets:?})"),
                    x.to_string(),
                )),
                None => Err(origin.field(
                    format!("data[{i}].detectors_used"),
                    format!("detectors inside {field}"),
                    format!("{dets:?}"),
                )),
            }
        })
        .collect()
}

/// The package's detector number for qubit q (0-based) and outcome bit b
/// among n qubits (its `scalerIndex`/`additiveIndex`).
pub(crate) fn detector(q: usize, b: usize, n: usize) -> usize {
    if n >= 2 && q + 2 < n {
        2 * (n - 1 - q) + b
    } else if q + 2 == n {
        2 * b
    } else {
        2 * b + 1
    }
}

/// The coincidence window of one detector combination: `table` as an
/// n-dimensional array, or one number for all.
enum Window {
    Uniform(f64),
    Table(Tensor),
}

/// Reads `coincidence_window` for accidental correction.
fn window(file: &KwiatFile, origin: &Origin) -> Result<Option<Window>, KwiatError> {
    let what = "a non-negative finite window (ns)";
    let Some(v) = &file.coincidence_window else {
        return Ok(None);
    };
    let single = match v {
        Value::Number(_) => Some(v),
        Value::Array(a) if a.len() == 1 && !a[0].is_array() => Some(&a[0]),
        _ => None,
    };
    if let Some(x) = single {
        return match x.as_f64() {
            Some(w) if w.is_finite() && w >= 0.0 => Ok(Some(Window::Uniform(w))),
            _ => Err(origin.field("coincidence_window", what, shown(x))),
        };
    }
    if file.detectors == 1 {
        return Err(origin.field(
            "coincidence_window",
            "one window in ns, e.g. [3] (one detector per qubit)",
            shown(v),
        ));
    }
    let n = file.n_qubits;
    Ok(Some(Window::Table(tensor(
        v,
        &vec![2 * n; n],
        "coincidence_window",
        what,
        origin,
        |x| x >= 0.0,
    )?)))
}

/// The accidental coincidences a_k of each row.
fn accidentals(
    file: &KwiatFile,
    settings: &[(usize, Vec<usize>)],
    setting_of: &[usize],
    outcome_of: &[usize],
    time: &[f64],
    origin: &Origin,
) -> Result<Vec<f64>, KwiatError> {
    let n = file.n_qubits;
    let m = file.entries.len();
    if n == 1 {
        return Err(origin.semantics(
            "do_accidental_correction needs two qubits or more (accidental coincidences need two detectors firing; Kwiat's package refuses it for one qubit too)",
        ));
    }
    let window = match window(file, origin)? {
        Some(w) => w,
        None if file.detectors == 2 => return Ok(vec![0.0; m]),
        None => {
            return Err(origin.field(
                "coincidence_window",
                "the coincidence window in ns (do_accidental_correction is on)",
                "nothing",
            ));
        }
    };
    let tau = match &window {
        Window::Uniform(w) => vec![*w; m],
        Window::Table(t) => per_detectors(
            file,
            t,
            "coincidence_window",
            origin,
            |x| x >= 0.0,
            "a window",
        )?,
    };
    let power = (n - 1) as i32;
    if file.detectors == 1 {
        return Ok(file
            .entries
            .iter()
            .enumerate()
            .map(|(j, e)| {
                let singles: f64 = e.counts[..n].iter().product();
                singles * (tau[j] * 1e-9 / time[j]).powi(power)
            })
            .collect());
    }
    let singles = setting_singles(file, settings);
    Ok((0..m)
        .map(|j| {
            let s = &singles[setting_of[j]];
            let k = outcome_of[j];
            let product: f64 = (0..n)
                .map(|q| s[detector(q, (k >> (n - 1 - q)) & 1, n)])
                .product();
            product * (tau[j] * 1e-9 / time[j]).powi(power)
        })
        .collect())
}

/// The singles of each setting by detector number (two detectors per
/// qubit); later entries of a setting overwrite earlier ones, as in the
/// package.
fn setting_singles(file: &KwiatFile, settings: &[(usize, Vec<usize>)]) -> Vec<Vec<f64>> {
    let n = file.n_qubits;
    settings
        .iter()
        .map(|(_, members)| {
            let mut s = vec![0.0; 2 * n];
            for &j in members {
                let e = &file.entries[j];
                for (i, &d) in e.detectors.as_deref().unwrap_or(&[]).iter().enumerate() {
                    s[d] = e.counts[i];
                }
            }
            s
        })
        .collect()
}

/// `intensity_from_singles`: the relative intensity of each setting
/// (normalised to mean 1), from the singles.
///
/// - **Two detectors per qubit:** r_s ∝ (Π_q (s_q⁺ + s_q⁻))^{1/n} / t_s,
///   the geometric mean over qubits of the singles rate of a qubit's two
///   detectors together, which count every photon of that qubit whatever
///   the basis. (A setting's own intensity cancels from the estimate of ρ
///   when its 2ⁿ outcomes are all recorded; it still sets the intensity.)
/// - **One detector per qubit:** a qubit's singles also depend on the
///   state it lets through, so the rates are fitted by the log-linear
///   model log(s_{q,j}/t_j) = x_j + y_{q,b}: x_j the log intensity of
///   entry j, y_{q,b} that of qubit q's detector behind local state b
///   (the same in every entry that measures b on q). Least squares by
///   alternating the two exact block updates (a two-way layout with
///   missing cells, whose sweeps converge to the least-squares fit).
fn intensities_from_singles(
    file: &KwiatFile,
    settings: &[(usize, Vec<usize>)],
    origin: &Origin,
) -> Result<Vec<f64>, KwiatError> {
    let n = file.n_qubits;
    let missing = |j: usize, q: usize| {
        origin.field(
            format!("data[{j}].counts"),
            format!(
                "positive singles on qubit {} (intensity_from_singles)",
                q + 1
            ),
            "none",
        )
    };
    let rates: Vec<f64> = if file.detectors == 2 {
        let singles = setting_singles(file, settings);
        let mut rates = Vec::with_capacity(settings.len());
        for (s, counts) in singles.iter().enumerate() {
            let mut log_sum = 0.0;
            for q in 0..n {
                let both = counts[detector(q, 0, n)] + counts[detector(q, 1, n)];
                if !(both > 0.0 && both.is_finite()) {
                    return Err(missing(settings[s].0, q));
                }
                log_sum += both.ln();
            }
            // The setting's time is its first entry's, as for its scale.
            rates.push((log_sum / n as f64).exp() / file.entries[settings[s].0].time);
        }
        rates
    } else {
        if n < 2 {
            return Err(origin.semantics(
                "intensity_from_singles needs singles: one qubit with one detector records only its counts",
            ));
        }
        let m = file.entries.len();
        let states = file.states.len();
        // log(s_{q,j}/t_j) for every entry and qubit.
        let mut log_rate = vec![0.0; m * n];
        for (j, e) in file.entries.iter().enumerate() {
            for q in 0..n {
                let s = e.counts[q];
                if !(s > 0.0 && s.is_finite()) {
                    return Err(missing(j, q));
                }
                log_rate[j * n + q] = (s / e.time).ln();
            }
        }
        let (mut x, mut y) = (vec![0.0; m], vec![0.0; n * states]);
        let mut seen = vec![0usize; n * states];
        for e in &file.entries {
            for (q, &b) in e.basis.iter().enumerate() {
                seen[q * states + b] += 1;
            }
        }
        for _ in 0..SINGLES_SWEEPS {
            for (j, e) in file.entries.iter().enumerate() {
                x[j] = (0..n)
                    .map(|q| log_rate[j * n + q] - y[q * states + e.basis[q]])
                    .sum::<f64>()
                    / n as f64;
            }
            y.fill(0.0);
            for (j, e) in file.entries.iter().enumerate() {
                for (q, &b) in e.basis.iter().enumerate() {
                    y[q * states + b] += (log_rate[j * n + q] - x[j]) / seen[q * states + b] as f64;
                }
            }
        }
        // One rate per setting: with one detector a setting is one entry.
        settings.iter().map(|(head, _)| x[*head].exp()).collect()
    };
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    Ok(rates.iter().map(|r| r / mean).collect())
}

/// Alternating sweeps of the log-linear singles fit (each halves the
/// error or better on the package's tomography designs; 200 leave it at
/// rounding).
const SINGLES_SWEEPS: usize = 200;

/// Every crosstalk row that is used must have a non-zero sum (the package
/// divides by it).
fn check_crosstalk(c: &Tensor, detectors: usize, origin: &Origin) -> Result<(), KwiatError> {
    let d = c.dims[0];
    let used = if detectors == 1 { 1 } else { d };
    for k in 0..used {
        let sum: f64 = c.values[k * d..(k + 1) * d].iter().sum();
        if sum.abs() <= 1e-300 || !sum.is_finite() {
            return Err(origin.field(
                format!("crosstalk[{k}]"),
                "a row with a non-zero sum (each effect is divided by it)",
                format!("{:?}", &c.values[k * d..(k + 1) * d]),
            ));
        }
    }
    Ok(())
}
