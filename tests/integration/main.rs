//! Integration tests: one binary, one module per area.

mod certified;
mod chaos;
mod cli;
mod contract;
mod disk_full;
mod integrity;
mod real_data;
mod slurm;
#[macro_use]
mod supervisor;
mod util;

// After `supervisor`, whose `needs_faults!` it uses.
mod robustness;
