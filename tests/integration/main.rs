//! Integration tests: one binary, one module per area.

mod certified;
mod chaos;
mod cli;
mod disk_full;
mod integrity;
mod real_data;
mod slurm;
mod supervisor;
mod util;
