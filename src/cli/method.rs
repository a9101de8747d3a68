//! `--method`: the estimators, as clap values (`run` and `show`).
//!
//! [`Method`] belongs to the numerics, which know nothing of clap;
//! [`MethodArg`] is its [`ValueEnum`] twin, so `--help` and the shell
//! completions list the methods. [`parser`] parses with [`Method`]'s own
//! `FromStr`, so a bad value keeps its message ("expected mle, pls or
//! linear", exit 2).

use crate::tomo::Method;
use clap::ValueEnum;
use clap::builder::{PossibleValue, TypedValueParser};

/// The estimators, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MethodArg {
    /// Certified maximum likelihood (started from pls).
    Mle,
    /// Projected least squares: linear inversion projected onto density matrices.
    Pls,
    /// Linear inversion (may be unphysical).
    Linear,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Mle => Method::Mle,
            MethodArg::Pls => Method::Pls,
            MethodArg::Linear => Method::Linear,
        }
    }
}

/// The value parser of `--method`: [`MethodArg`]'s possible values,
/// [`Method`]'s parsing and error message.
pub(crate) fn parser() -> MethodParser {
    MethodParser
}

/// See [`parser`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MethodParser;

impl TypedValueParser for MethodParser {
    type Value = Method;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Method, clap::Error> {
        let from_str = |s: &str| s.parse::<Method>();
        from_str.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            MethodArg::value_variants()
                .iter()
                .filter_map(MethodArg::to_possible_value),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_arg_is_the_method_of_its_name() {
        for m in MethodArg::value_variants() {
            let name = m
                .to_possible_value()
                .expect("visible")
                .get_name()
                .to_owned();
            assert_eq!(Method::from(*m).name(), name);
            assert_eq!(name.parse::<Method>(), Ok(Method::from(*m)));
        }
    }
}
