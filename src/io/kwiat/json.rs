//! The shape of one Kwiat Quantum-Tomography 1.2 data document and its
//! validation: from JSON text to a [`KwiatFile`] whose every field has been
//! checked (types, ranges, lengths, finiteness), or a located
//! [`KwiatError`] naming the field (`data[4].counts[2]`), what was
//! expected and what was found.
//!
//! Fields read (as the package's `import_data` does): `n_qubits`,
//! `n_detectors_per_qubit` (1 or 2), `n_measurements_per_qubit`,
//! `measurement_states` (name → ket of two complex entries, numbers or
//! Python complex strings), `data` (entries with `basis`,
//! `integration_time` (default 1), `counts` (singles, then coincidences:
//! 2ⁿ − 1 numbers, the n-fold coincidence last), `detectors_used`,
//! `relative_intensity`), `relative_efficiency`, `crosstalk`,
//! `coincidence_window`. Other top-level fields are ignored, as the
//! package ignores them.

use faer::c64;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;

use super::complex::parse_complex;
use super::error::{KwiatError, Origin};

/// The most qubits a Kwiat file may have (d = 256, as `--basis pauli`).
pub const MAX_QUBITS: usize = 8;

/// One entry of `data`, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Index into [`KwiatFile::states`] per qubit (qubit 1 first).
    pub basis: Vec<usize>,
    /// `integration_time` (default 1), positive and finite.
    pub time: f64,
    /// `counts`: 2ⁿ − 1 non-negative finite numbers.
    pub counts: Vec<f64>,
    /// `detectors_used`: one detector number per qubit, each below 2n.
    pub detectors: Option<Vec<usize>>,
    /// `relative_intensity`, positive and finite, when given.
    pub relative_intensity: Option<f64>,
}

/// A real array of fixed shape, row-major (`relative_efficiency`,
/// `coincidence_window`, `crosstalk`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    /// The extent of each axis.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<f64>,
}

impl Tensor {
    /// The value at `index` (one coordinate per axis), if inside.
    pub(crate) fn at(&self, index: &[usize]) -> Option<f64> {
        if index.len() != self.dims.len() {
            return None;
        }
        let mut flat = 0;
        for (&i, &d) in index.iter().zip(&self.dims) {
            if i >= d {
                return None;
            }
            flat = flat * d + i;
        }
        self.values.get(flat).copied()
    }
}

/// One Kwiat data document, every field checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KwiatFile {
    /// `n_qubits`, 1 to [`MAX_QUBITS`].
    pub n_qubits: usize,
    /// `n_detectors_per_qubit`, 1 or 2.
    pub detectors: usize,
    /// `n_measurements_per_qubit` as written (required, as the package
    /// requires it, but not used: any value but a string).
    pub measurements_per_qubit: Value,
    /// `measurement_states` in file order: name and ket as written.
    pub states: Vec<(String, [c64; 2])>,
    /// `data`, in file order (at least one entry).
    pub entries: Vec<Entry>,
    /// `relative_efficiency`, when given (two detectors per qubit:
    /// (2n)ⁿ values indexed by `detectors_used`; ignored for one).
    pub relative_efficiency: Option<Value>,
    /// `crosstalk`: 2ⁿ×2ⁿ (or n 2×2 matrices, combined by Kronecker
    /// products, qubit 1 first), when given.
    pub crosstalk: Option<Tensor>,
    /// `coincidence_window` in ns, as written (checked where it is used,
    /// i.e. with accidental correction on).
    pub coincidence_window: Option<Value>,
}

/// A JSON object whose keys keep their order (`measurement_states`: the
/// package takes the first orthogonal state in file order as a state's
/// partner) and whose repeated keys are reported.
#[derive(Debug, Default)]
struct OrderedMap(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `measurement_states` as parsed: an object in file order, or whatever
/// else was written there (reported by [`states`]).
#[derive(Deserialize)]
#[serde(untagged)]
enum StatesField {
    /// An object, its keys in file order.
    Ordered(OrderedMap),
    /// Anything else.
    Other(Value),
}

/// The document as parsed, before checking: `measurement_states` in file
/// order, everything else by name.
#[derive(Deserialize)]
struct RawDoc {
    measurement_states: Option<StatesField>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// At most this many characters of a found value are quoted.
const SHOWN: usize = 60;

/// A found value, for messages: compact JSON, shortened.
pub(crate) fn shown(v: &Value) -> String {
    let text = match v {
        Value::Null => "null".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::Array(a) if a.is_empty() => "an empty array".to_string(),
        _ => v.to_string(),
    };
    if text.chars().count() > SHOWN {
        let cut: String = text.chars().take(SHOWN).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Parses and checks one document. `origin` names it in errors; `text`
/// is the whole file (or one `.jsonl` line).
pub(crate) fn parse(text: &str, origin: &Origin) -> Result<KwiatFile, KwiatError> {
    // Syntax first (located by line and column), then the shape.
    let value: Value = serde_json::from_str(text).map_err(|e| syntax(e, origin))?;
    if !value.is_object() {
        return Err(origin.field(
            "the document",
            "a JSON object (one sample: n_qubits, measurement_states, data, ...)",
            shown(&value),
        ));
    }
    // Again, for measurement_states in file order (a parsed Value sorts keys).
    let raw: RawDoc = serde_json::from_str(text).map_err(|e| syntax(e, origin))?;
    let rest = &raw.rest;
    let get = |key: &str| rest.get(key);
    let n_qubits = integer(get("n_qubits"), "n_qubits", origin, 1, MAX_QUBITS as u64)? as usize;
    let detectors = integer(
        get("n_detectors_per_qubit"),
        "n_detectors_per_qubit",
        origin,
        1,
        2,
    )? as usize;
    let measurements_per_qubit = measurements_per_qubit(get("n_measurements_per_qubit"), origin)?;
    let later_format = rest.contains_key("measurement_states_per_qubit");
    let states = states(raw.measurement_states, later_format, origin)?;
    let entries = match get("data") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| entry(v, i, n_qubits, detectors, &states, origin))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(origin.field(
                "data",
                "a non-empty array of measurement entries",
                found(other),
            ));
        }
    };
    let crosstalk = match get("crosstalk") {
        None | Some(Value::Null) => None,
        Some(v) => Some(crosstalk(v, n_qubits, origin)?),
    };
    Ok(KwiatFile {
        n_qubits,
        detectors,
        measurements_per_qubit,
        states,
        entries,
        relative_efficiency: get("relative_efficiency").filter(|v| !v.is_null()).cloned(),
        crosstalk,
        coincidence_window: get("coincidence_window").filter(|v| !v.is_null()).cloned(),
    })
}

/// A serde_json syntax (or top-level type) error, located.
fn syntax(e: serde_json::Error, origin: &Origin) -> KwiatError {
    // Inside a .jsonl batch the line is the batch's; the column is the
    // parser's within that line.
    let column = Some(e.column().max(1) as u64);
    let line = Some(origin.line.unwrap_or(e.line().max(1) as u64));
    let message = e.to_string();
    // serde_json appends " at line L column C"; the site says it already.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    KwiatError::Syntax {
        path: origin.path.clone(),
        line,
        column,
        what: "not valid JSON",
        message,
    }
}

/// `nothing` for a missing field, else the value shown.
fn found(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_string(), shown)
}

/// An integer field in `min..=max`.
fn integer(
    v: Option<&Value>,
    field: &str,
    origin: &Origin,
    min: u64,
    max: u64,
) -> Result<u64, KwiatError> {
    match v.and_then(Value::as_u64) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => {
            let expected = if max == min + 1 {
                format!("{min} or {max}")
            } else {
                format!("an integer from {min} to {max}")
            };
            Err(origin.field(field, expected, found(v)))
        }
    }
}

/// `n_measurements_per_qubit`: the package requires the field but never
/// reads its value, and its configuration dictionary takes any JSON value
/// but a string (`6.0`, `0`, `null` and `[6, 6]` all import). qtomo does
/// not use it either: it must be present, and not a string.
fn measurements_per_qubit(v: Option<&Value>, origin: &Origin) -> Result<Value, KwiatError> {
    match v {
        Some(Value::String(_)) | None => Err(origin.field(
            "n_measurements_per_qubit",
            "a number, e.g. 6 (required by Kwiat's format; its value is not used)",
            found(v),
        )),
        Some(v) => Ok(v.clone()),
    }
}

/// A real number that is finite and satisfies `ok`.
fn real(
    v: &Value,
    field: &str,
    expected: &str,
    origin: &Origin,
    ok: fn(f64) -> bool,
) -> Result<f64, KwiatError> {
    match v.as_f64() {
        Some(x) if x.is_finite() && ok(x) => Ok(x),
        _ => Err(origin.field(field, expected, shown(v))),
    }
}

/// One complex entry: a number or a Python complex string.
fn complex(v: &Value, field: &str, origin: &Origin) -> Result<c64, KwiatError> {
    let value = match v {
        Value::Number(n) => n.as_f64().map(|x| c64::new(x, 0.0)),
        Value::String(s) => parse_complex(s),
        _ => None,
    };
    value
        .filter(|c| c.re.is_finite() && c.im.is_finite())
        .ok_or_else(|| {
            origin.field(
            field,
            "a complex number: a JSON number or a string such as \"1j\", \"-0.5j\", \"0.5+0.5j\"",
            shown(v),
        )
        })
}

/// `measurement_states`: name → ket of two complex entries, names
/// distinct (a zero ket is refused only where it is measured, see
/// [`entry`]).
fn states(
    v: Option<StatesField>,
    later_format: bool,
    origin: &Origin,
) -> Result<Vec<(String, [c64; 2])>, KwiatError> {
    let expected = "an object of named kets, e.g. {\"H\": [1, 0], \"R\": [1, \"1j\"]}";
    let map = match v {
        Some(StatesField::Ordered(map)) if !map.0.is_empty() => map.0,
        Some(StatesField::Ordered(_)) => {
            return Err(origin.field("measurement_states", expected, "an empty object"));
        }
        Some(StatesField::Other(v)) => {
            return Err(origin.field("measurement_states", expected, shown(&v)));
        }
        None if later_format => {
            return Err(origin.field(
                "measurement_states",
                expected,
                "nothing (this file has measurement_states_per_qubit, of a later version of the format than Quantum-Tomography 1.2, which qtomo reads)",
            ));
        }
        None => return Err(origin.field("measurement_states", expected, "nothing")),
    };
    let mut out: Vec<(String, [c64; 2])> = Vec::with_capacity(map.len());
    for (name, v) in map {
        let field = format!("measurement_states.{name}");
        if out.iter().any(|(n, _)| *n == name) {
            return Err(origin.field(field, "each state named once", "the name again"));
        }
        let ket = match &v {
            Value::Array(a) if a.len() == 2 => [
                complex(&a[0], &format!("{field}[0]"), origin)?,
                complex(&a[1], &format!("{field}[1]"), origin)?,
            ],
            _ => {
                return Err(origin.field(
                    field,
                    "a ket of 2 complex entries, e.g. [1, \"1j\"]",
                    shown(&v),
                ));
            }
        };
        // A zero ket is refused where a data entry measures it: the
        // package normalises only the states that are measured, so an
        // unused zero state does not stop it.
        out.push((name, ket));
    }
    Ok(out)
}

/// One entry of `data`.
fn entry(
    v: &Value,
    i: usize,
    n_qubits: usize,
    detectors: usize,
    states: &[(String, [c64; 2])],
    origin: &Origin,
) -> Result<Entry, KwiatError> {
    let at = |key: &str| format!("data[{i}].{key}");
    let Value::Object(obj) = v else {
        return Err(origin.field(
            format!("data[{i}]"),
            "an object with basis, integration_time and counts",
            shown(v),
        ));
    };
    let names: Vec<String> = states.iter().map(|(n, _)| n.clone()).collect();
    let basis = match obj.get("basis") {
        Some(Value::Array(a)) if a.len() == n_qubits => a
            .iter()
            .enumerate()
            .map(|(q, b)| {
                let index = b
                    .as_str()
                    .and_then(|s| names.iter().position(|n| n == s))
                    .ok_or_else(|| {
                        origin.field(
                            format!("data[{i}].basis[{q}]"),
                            format!(
                                "the name of one of the measurement_states ({})",
                                names.join(", ")
                            ),
                            shown(b),
                        )
                    })?;
                let (name, ket) = &states[index];
                if ket[0].norm_sqr() + ket[1].norm_sqr() == 0.0 {
                    return Err(origin.field(
                        format!("measurement_states.{name}"),
                        format!("a non-zero ket (data[{i}].basis[{q}] measures it)"),
                        "the zero vector",
                    ));
                }
                Ok(index)
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(origin.field(
                at("basis"),
                format!("an array of {n_qubits} state names (one per qubit)"),
                found(other),
            ));
        }
    };
    let time = match obj.get("integration_time") {
        None | Some(Value::Null) => 1.0,
        Some(t) => real(
            t,
            &at("integration_time"),
            "a positive finite number (seconds)",
            origin,
            |x| x > 0.0,
        )?,
    };
    let n_counts = (1usize << n_qubits) - 1;
    let counts_expected = if n_qubits == 1 {
        "an array of 1 count".to_string()
    } else {
        format!(
            "an array of {n_counts} counts ({n_qubits} singles, then the coincidences, the {n_qubits}-fold one last)"
        )
    };
    let counts = match obj.get("counts") {
        Some(Value::Array(a)) if a.len() == n_counts => a
            .iter()
            .enumerate()
            .map(|(k, c)| {
                real(
                    c,
                    &format!("data[{i}].counts[{k}]"),
                    "a non-negative finite count",
                    origin,
                    |x| x >= 0.0,
                )
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => return Err(origin.field(at("counts"), counts_expected, found(other))),
    };
    let n_detectors = 2 * n_qubits;
    let detectors_used = match obj.get("detectors_used") {
        None | Some(Value::Null) if detectors == 2 => {
            return Err(origin.field(
                at("detectors_used"),
                format!(
                    "an array of {n_qubits} detector numbers (required with 2 detectors per qubit)"
                ),
                "nothing",
            ));
        }
        None | Some(Value::Null) => None,
        // One detector per qubit: the package ignores the field.
        Some(_) if detectors == 1 => None,
        Some(Value::Array(a)) if a.len() == n_qubits => Some(
            a.iter()
                .enumerate()
                .map(|(q, d)| match d.as_u64() {
                    Some(d) if (d as usize) < n_detectors => Ok(d as usize),
                    _ => Err(origin.field(
                        format!("data[{i}].detectors_used[{q}]"),
                        format!("a detector number from 0 to {}", n_detectors - 1),
                        shown(d),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => {
            return Err(origin.field(
                at("detectors_used"),
                format!("an array of {n_qubits} detector numbers"),
                shown(other),
            ));
        }
    };
    let relative_intensity = match obj.get("relative_intensity") {
        None | Some(Value::Null) => None,
        Some(r) => Some(real(
            r,
            &at("relative_intensity"),
            "a positive finite number",
            origin,
            |x| x > 0.0,
        )?),
    };
    Ok(Entry {
        basis,
        time,
        counts,
        detectors: detectors_used,
        relative_intensity,
    })
}

/// A real array of shape `dims` (nested JSON arrays), each value finite
/// and satisfying `ok`.
pub(crate) fn tensor(
    v: &Value,
    dims: &[usize],
    field: &str,
    expected_value: &str,
    origin: &Origin,
    ok: fn(f64) -> bool,
) -> Result<Tensor, KwiatError> {
    fn walk(
        v: &Value,
        dims: &[usize],
        path: &str,
        expected_value: &str,
        origin: &Origin,
        ok: fn(f64) -> bool,
        out: &mut Vec<f64>,
    ) -> Result<(), KwiatError> {
        match dims.split_first() {
            None => {
                out.push(real(v, path, expected_value, origin, ok)?);
                Ok(())
            }
            Some((&n, rest)) => match v {
                Value::Array(a) if a.len() == n => {
                    for (k, x) in a.iter().enumerate() {
                        walk(
                            x,
                            rest,
                            &format!("{path}[{k}]"),
                            expected_value,
                            origin,
                            ok,
                            out,
                        )?;
                    }
                    Ok(())
                }
                _ => Err(origin.field(
                    path,
                    format!(
                        "an array of {n} {}",
                        if rest.is_empty() { "numbers" } else { "arrays" }
                    ),
                    shown(v),
                )),
            },
        }
    }
    let mut values = Vec::with_capacity(dims.iter().product());
    walk(v, dims, field, expected_value, origin, ok, &mut values)?;
    Ok(Tensor {
        dims: dims.to_vec(),
        values,
    })
}

/// `crosstalk`: a 2ⁿ×2ⁿ matrix, or n 2×2 matrices whose Kronecker product
/// (qubit 1 first) is used, as the package does.
fn crosstalk(v: &Value, n_qubits: usize, origin: &Origin) -> Result<Tensor, KwiatError> {
    let d = 1usize << n_qubits;
    let per_qubit = matches!(v, Value::Array(a) if a.first().and_then(|r| r.as_array()).and_then(|r| r.first()).is_some_and(Value::is_array));
    let what = "a finite number";
    if !per_qubit {
        return tensor(v, &[d, d], "crosstalk", what, origin, |_| true);
    }
    let parts = tensor(v, &[n_qubits, 2, 2], "crosstalk", what, origin, |_| true)?;
    let mut m = vec![1.0];
    let mut size = 1;
    for q in 0..n_qubits {
        let c = &parts.values[q * 4..q * 4 + 4];
        let mut next = vec![0.0; size * size * 4];
        for i in 0..size {
            for j in 0..size {
                for a in 0..2 {
                    for b in 0..2 {
                        next[(2 * i + a) * (2 * size) + 2 * j + b] = m[i * size + j] * c[a * 2 + b];
                    }
                }
            }
        }
        m = next;
        size *= 2;
    }
    Ok(Tensor {
        dims: vec![d, d],
        values: m,
    })
}
