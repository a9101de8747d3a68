//! Several threads for one sample: the parallelism of the large kernels.
//!
//! A worker normally computes each sample on one thread, and every kernel
//! is sequential (`Par::Seq`). When a batch has fewer samples than cores
//! (`qtomo run --threads-per-worker`), a sample's computation can instead
//! run inside [`Threads::install`]: on a rayon thread pool of N threads
//! owned by the worker (never rayon's global pool), with the parallelism
//! `Par::rayon(N)` in force on the calling thread for the extent of the
//! call. The kernels whose cost grows fastest with d read it through
//! [`par_for`]:
//!
//! - faer's Hermitian eigendecompositions in
//!   [`EigenWorkspace`](crate::tomo::EigenWorkspace) (the MLE's
//!   projections, its certificate, the Newton polish, PLS, the metrics);
//! - the complex matrix products of
//!   [`hermitian::triple_product`](crate::tomo::hermitian::triple_product)
//!   (the rotations of the Newton polish).
//!
//! Below [`MIN_PARALLEL_DIM`] they stay sequential: at d ≤ 16 a
//! decomposition takes microseconds, less than waking the pool's threads.
//! Outside `install`, and with N = 1 (which builds no pool at all), [`par`]
//! is `Par::Seq`, so every kernel runs exactly the sequential code.
//!
//! The setting is per thread and scoped, like rayon's own "current pool":
//! code that never calls `install` (the tests, the report, a library user)
//! is sequential, and so is code that a parallel region runs on the pool's
//! other threads (they see `Par::Seq`).
//!
//! **Results.** faer's parallel kernels split the work differently from
//! the sequential ones (panels of the tridiagonal reduction, blocks of the
//! matrix products), so the floating-point operations are ordered
//! differently and results may differ from N = 1 in the last bits: equal to
//! rounding, not bit for bit, and an iterative solver may stop an iteration
//! or two earlier or later (the integration test allows 1e-9 on ρ's
//! entries; a 7-qubit MLE measured 4.5e-12 with 64 iterations against 67).
//! A run's fingerprint does not include N: a run may be resumed with
//! another N, and tests that compare exports byte for byte keep N = 1.

use faer::Par;
use std::cell::Cell;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Smallest d whose kernels use the threads of [`Threads::install`]; below
/// it they are sequential whatever the setting.
pub const MIN_PARALLEL_DIM: usize = 32;

/// The most threads a [`Threads`] may have.
pub const MAX_THREADS: usize = 1024;

thread_local! {
    /// The parallelism in force on this thread (set by [`Threads::install`]).
    static CURRENT: Cell<Par> = const { Cell::new(Par::Seq) };
}

/// Makes faer's own default parallelism sequential, for the whole process.
///
/// faer's convenience API (`Mat::self_adjoint_eigen`, `llt`, `thin_svd`,
/// `singular_values`, `&a * &b`) takes no `Par` argument: it reads faer's
/// global setting, which with faer's `rayon` feature defaults to every
/// thread of rayon's *global* pool. qtomo calls it in a few places (the
/// Newton steps' small face blocks, the set's SVD, some metrics); this
/// keeps them sequential as they were before the feature was enabled, so
/// one thread per worker means one thread. The binary calls it first thing
/// ([`crate::cli::run`]); a program using the library (a bench) should too.
pub fn sequential_by_default() {
    faer::set_global_parallelism(Par::Seq);
}

/// The parallelism in force on this thread: `Par::Seq` unless the caller
/// is inside [`Threads::install`] with more than one thread.
pub fn par() -> Par {
    CURRENT.with(Cell::get)
}

/// The parallelism for a kernel on d×d matrices: [`par`] from
/// [`MIN_PARALLEL_DIM`] on, `Par::Seq` below.
pub fn par_for(d: usize) -> Par {
    if d >= MIN_PARALLEL_DIM {
        par()
    } else {
        Par::Seq
    }
}

/// A thread pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ThreadsError {
    /// More threads than [`MAX_THREADS`].
    #[error("{requested} threads: at most {MAX_THREADS}")]
    TooMany {
        /// The number asked for.
        requested: usize,
    },
    /// The operating system refused a thread.
    #[error("cannot start a pool of {threads} threads")]
    Build {
        /// The number asked for.
        threads: usize,
        /// Why.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

/// The threads one sample may use: none besides the caller's (sequential)
/// or a rayon pool of N threads. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct Threads {
    count: NonZeroUsize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl Default for Threads {
    fn default() -> Self {
        Self::sequential()
    }
}

impl Threads {
    /// One thread: [`install`](Self::install) calls its closure directly.
    pub fn sequential() -> Self {
        Self {
            count: NonZeroUsize::MIN,
            pool: None,
        }
    }

    /// `count` threads: a new pool of `count` threads (named
    /// `qtomo-par-<i>`), or none for 1.
    pub fn new(count: NonZeroUsize) -> Result<Self, ThreadsError> {
        let n = count.get();
        if n > MAX_THREADS {
            return Err(ThreadsError::TooMany { requested: n });
        }
        if n == 1 {
            return Ok(Self::sequential());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("qtomo-par-{i}"))
            .build()
            .map_err(|source| ThreadsError::Build { threads: n, source })?;
        Ok(Self {
            count,
            pool: Some(Arc::new(pool)),
        })
    }

    /// The number of threads.
    pub fn count(&self) -> usize {
        self.count.get()
    }

    /// Runs `f` with this many threads: with one, on the calling thread
    /// exactly as if there were no pool; with more, on the pool, with
    /// `Par::rayon(N)` as [`par`] for the extent of `f` (restored after,
    /// also when `f` panics; the panic is passed on).
    pub fn install<R, F>(&self, f: F) -> R
    where
        R: Send,
        F: FnOnce() -> R + Send,
    {
        match &self.pool {
            None => f(),
            Some(pool) => {
                let par = Par::rayon(self.count.get());
                pool.install(move || {
                    let _scope = Scoped::set(par);
                    f()
                })
            }
        }
    }
}

/// Restores the previous parallelism of this thread when dropped.
struct Scoped {
    previous: Par,
}

impl Scoped {
    fn set(par: Par) -> Self {
        Self {
            previous: CURRENT.with(|c| c.replace(par)),
        }
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(n: usize) -> Threads {
        Threads::new(NonZeroUsize::new(n).unwrap()).unwrap()
    }

    #[test]
    fn one_thread_is_sequential_and_builds_no_pool() {
        let t = threads(1);
        assert!(t.pool.is_none());
        assert_eq!(t.count(), 1);
        let caller = std::thread::current().id();
        let (on, p) = t.install(|| (std::thread::current().id(), par()));
        assert_eq!(on, caller);
        assert_eq!(p, Par::Seq);
    }

    #[test]
    fn install_sets_the_parallelism_for_its_extent_only() {
        let t = threads(2);
        assert_eq!(par(), Par::Seq);
        let (inside, small, large) = t.install(|| (par(), par_for(8), par_for(64)));
        assert_eq!(inside, Par::rayon(2));
        assert_eq!(small, Par::Seq);
        assert_eq!(large, Par::rayon(2));
        assert_eq!(par(), Par::Seq);
        // Restored on the pool thread too, also after a panic.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.install(|| panic!("boom"))
        }));
        assert!(caught.is_err());
        let pool = t.pool.clone().unwrap();
        let after = pool.install(par);
        assert_eq!(after, Par::Seq);
    }

    #[test]
    fn faer_global_parallelism_can_be_made_sequential() {
        sequential_by_default();
        assert_eq!(faer::get_global_parallelism(), Par::Seq);
    }

    #[test]
    fn too_many_threads_is_an_error() {
        let e = Threads::new(NonZeroUsize::new(MAX_THREADS + 1).unwrap()).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
    }
}
