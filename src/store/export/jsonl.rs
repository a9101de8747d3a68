//! The JSONL export: one JSON object per sample.

use crate::store::PathIoError;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::*;

/// A d×d row-major matrix serialised as a list of rows.
struct Rows<'a> {
    data: &'a [f64],
    dim: usize,
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.dim))?;
        for row in self.data.chunks(self.dim.max(1)) {
            seq.serialize_element(row)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct JsonMethod<'a> {
    dim: u32,
    rho_re: Rows<'a>,
    rho_im: Rows<'a>,
    #[serde(flatten)]
    metrics: &'a MethodMetrics,
    gof: Option<&'a GofRecord>,
    bootstrap: Option<&'a BootstrapRecord>,
}

/// The methods of a record as a JSON object, in record order.
struct JsonMethods<'a>(&'a [MethodResult]);

impl Serialize for JsonMethods<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for m in self.0 {
            let dim = m.dim as usize;
            map.serialize_entry(
                &m.method,
                &JsonMethod {
                    dim: m.dim,
                    rho_re: Rows {
                        data: &m.rho_re,
                        dim,
                    },
                    rho_im: Rows {
                        data: &m.rho_im,
                        dim,
                    },
                    metrics: &m.metrics,
                    gof: m.gof.as_ref(),
                    bootstrap: m.bootstrap.as_ref(),
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    index: u64,
    id: Option<&'a str>,
    status: &'a str,
    error: Option<&'a str>,
    methods: JsonMethods<'a>,
}

/// One record as pretty-printed JSON with the fields of a JSONL export line
/// (`index`, `id`, `status`, `error`, `methods`), keeping only the methods
/// `keep` accepts (`qtomo show --json`).
pub fn sample_json(
    record: &SampleRecord,
    keep: impl Fn(&str) -> bool,
) -> Result<String, serde_json::Error> {
    let methods: Vec<MethodResult> = if record.is_ok() {
        record
            .methods
            .iter()
            .filter(|m| keep(&m.method))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    serde_json::to_string_pretty(&JsonLine {
        index: record.index,
        id: Some(&record.id),
        status: record.status.as_str(),
        error: record.status.error(),
        methods: JsonMethods(&methods),
    })
}

pub(super) fn jsonl_to_file(
    mut source: Source<'_>,
    out: &Path,
) -> Result<ExportStats, ExportError> {
    let (temp, file) = create_temp(out)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let stats = write_jsonl(&mut source, &mut w, out)?;
    temp.commit(finish_writer(w, out)?)?;
    Ok(stats)
}

/// Writes every row of `source` as JSON lines to `w`.
pub(super) fn write_jsonl(
    source: &mut Source<'_>,
    w: &mut impl Write,
    out: &Path,
) -> Result<ExportStats, ExportError> {
    source.for_each_row(|row| {
        let line = JsonLine {
            index: row.index(),
            id: row.id(),
            status: row.status(),
            error: row.error(),
            methods: JsonMethods(row.methods()),
        };
        serde_json::to_writer(&mut *w, &line).map_err(|source| ExportError::Json {
            path: out.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(|source| {
            ExportError::Io(PathIoError {
                action: "write",
                path: out.to_path_buf(),
                source,
            })
        })
    })
}
