//! One sample, every requested method: the convenience entry point.
//!
//! [`Reconstructor`] owns the scratch memory of all estimators for one set
//! and is reused for every sample a worker processes; nothing is allocated
//! per MLE iteration. PLS is computed whenever MLE is requested, since it is
//! the MLE's starting point (in the MLE frame, see [`crate::tomo::pls`]),
//! and whenever linear inversion is degenerate, since it then stands in for
//! it (see [`crate::tomo::linear`]). A sample with positive total counts
//! always gets every requested estimate.

use crate::tomo::eigen::EigenWorkspace;
use crate::tomo::linear::{self, LinearWorkspace};
use crate::tomo::measurement::SetView;
use crate::tomo::metrics::{self, Metrics};
use crate::tomo::mle::{MleInfo, MleParams, MleWorkspace};
use crate::tomo::pls::FrameProjection;
use crate::tomo::states::Target;
use crate::tomo::{TomoError, counts};
use std::fmt;
use std::str::FromStr;

/// An estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Linear inversion.
    Linear,
    /// Projected least squares.
    Pls,
    /// Maximum likelihood.
    Mle,
}

impl Method {
    /// Every method, in the order results are reported.
    pub const ALL: [Method; 3] = [Method::Mle, Method::Pls, Method::Linear];

    /// The method's name as used on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Linear => "linear",
            Method::Pls => "pls",
            Method::Mle => "mle",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "linear" => Ok(Method::Linear),
            "pls" => Ok(Method::Pls),
            "mle" => Ok(Method::Mle),
            _ => Err(format!("unknown method '{s}'; expected mle, pls or linear")),
        }
    }
}

/// One method's estimate of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The method.
    pub method: Method,
    /// Coordinates of ρ (see [`crate::tomo::hermitian`]).
    pub rho: Vec<f64>,
    /// Figures of merit.
    pub metrics: Metrics,
    /// MLE diagnostics (MLE only).
    pub mle: Option<MleInfo>,
}

/// Scratch memory for every estimator of one set.
pub struct Reconstructor {
    linear: LinearWorkspace,
    projection: FrameProjection,
    eigen: EigenWorkspace,
    mle: MleWorkspace,
    raw: Vec<f64>,
    lin: Vec<f64>,
    pls: Vec<f64>,
    pls_frame: Vec<f64>,
}

impl Reconstructor {
    /// Allocates all scratch memory for the set.
    pub fn new(set: SetView<'_>) -> Self {
        let n = set.info.coord_len();
        Self {
            linear: LinearWorkspace::new(set),
            projection: FrameProjection::new(set.dim()),
            eigen: EigenWorkspace::new(set.dim()),
            mle: MleWorkspace::new(set),
            raw: vec![0.0; n],
            lin: vec![0.0; n],
            pls: vec![0.0; n],
            pls_frame: vec![0.0; n],
        }
    }

    /// Runs the requested methods on one sample, in the order given.
    pub fn run(
        &mut self,
        set: SetView<'_>,
        sample: &[f64],
        methods: &[Method],
        params: &MleParams,
        target: Option<&Target>,
    ) -> Result<Vec<Estimate>, TomoError> {
        counts::validate(set.info, sample)?;
        self.linear.raw(set, sample, &mut self.raw)?;
        self.lin.copy_from_slice(&self.raw);
        let linear_ok = linear::normalise(set, &mut self.lin).is_ok();
        let need_pls = !linear_ok
            || methods
                .iter()
                .any(|m| matches!(m, Method::Pls | Method::Mle));
        if need_pls {
            self.projection
                .project(set, &self.raw, &mut self.pls_frame, &mut self.pls)?;
        }
        if !linear_ok {
            self.lin.copy_from_slice(&self.pls);
        }
        let mut out = Vec::with_capacity(methods.len());
        for &method in methods {
            let (rho, mle) = match method {
                Method::Linear => (self.lin.clone(), None),
                Method::Pls => (self.pls.clone(), None),
                Method::Mle => {
                    let mut rho = vec![0.0; self.pls.len()];
                    let info = self.mle.solve_from_frame(
                        set,
                        sample,
                        &self.pls_frame,
                        params,
                        &mut rho,
                    )?;
                    (rho, Some(info))
                }
            };
            let metrics = metrics::compute(set, sample, &rho, target, &mut self.eigen)?;
            out.push(Estimate {
                method,
                rho,
                metrics,
                mle,
            });
        }
        Ok(out)
    }
}
