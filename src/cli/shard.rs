//! Which part of the input this process runs: `--shard I/N`, or the shard
//! picked from the scheduler's environment (Slurm job arrays, Kubernetes
//! Indexed Jobs).
//!
//! Shard I of N gets the contiguous index range [⌊I·T/N⌋, ⌊(I+1)·T/N⌋) of
//! T samples: no overlap, no gap, sizes differ by at most one.
//!
//! Slurm arrays may be sparse or stepped (`--array=10-40:10`): the shard is
//! the task's *position*, (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) /
//! SLURM_ARRAY_TASK_STEP, of SLURM_ARRAY_TASK_COUNT tasks. Kubernetes
//! Indexed Jobs give JOB_COMPLETION_INDEX; their count comes from
//! `--shard-count`.

use std::ops::Range;

/// One shard of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// 0-based shard index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// The index range of this shard among `total` samples.
    pub(crate) fn range(&self, total: u64) -> Range<u64> {
        let (i, n) = (self.index as u128, self.count as u128);
        let t = total as u128;
        ((i * t / n) as u64)..(((i + 1) * t / n) as u64)
    }
}

/// Parses `I/N` with 0 ≤ I < N.
pub(crate) fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid shard '{s}': expected I/N, e.g. 0/4"))?;
    let index: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("invalid shard '{s}': I must be a whole number"))?;
    let count: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("invalid shard '{s}': N must be a whole number"))?;
    if count == 0 || index >= count {
        return Err(format!("invalid shard '{s}': need 0 ≤ I < N"));
    }
    Ok(Shard { index, count })
}

/// The shard from the environment, if the process runs as an array task.
pub(crate) fn shard_from_env(
    get: impl Fn(&str) -> Option<String>,
    shard_count: Option<u32>,
) -> Result<Option<Shard>, String> {
    let num = |name: &str| -> Result<Option<i64>, String> {
        get(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{name}='{v}' is not a whole number"))
            })
            .transpose()
    };
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let count = num("SLURM_ARRAY_TASK_COUNT")?
            .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let position = (id - min) / step;
        if (id - min) % step != 0 || position < 0 || position >= count {
            return Err(format!(
                "Slurm array task {id} is not on the grid min={min} step={step} count={count}; pass --shard I/N explicitly"
            ));
        }
        return Ok(Some(Shard {
            index: position as u32,
            count: count as u32,
        }));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = shard_count
            .ok_or("JOB_COMPLETION_INDEX is set: give the number of shards with --shard-count N")?;
        if index < 0 || index as u32 >= count {
            return Err(format!(
                "JOB_COMPLETION_INDEX={index} is outside 0..{count}"
            ));
        }
        return Ok(Some(Shard {
            index: index as u32,
            count,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn shards_partition_without_gap_or_overlap() {
        for total in [0u64, 1, 7, 100, 1001] {
            for n in 1..=9u32 {
                let mut next = 0;
                for i in 0..n {
                    let r = Shard { index: i, count: n }.range(total);
                    assert_eq!(r.start, next);
                    assert!(r.end - r.start <= total / n as u64 + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_shard("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("1/0").is_err());
        assert!(parse_shard("a/b").is_err());
        assert!(parse_shard("3").is_err());
    }

    #[test]
    fn slurm_stepped_arrays_map_positions() {
        let env: HashMap<&str, &str> = [
            ("SLURM_ARRAY_TASK_ID", "30"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "10"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        assert_eq!(
            shard_from_env(get, None).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(
            shard_from_env(k8s, Some(3)).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert!(shard_from_env(k8s, None).is_err());
        assert_eq!(shard_from_env(|_| None, None).unwrap(), None);
    }
}
