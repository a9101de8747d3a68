//! Integration tests: one binary, one module per area.

mod bootstrap;
mod certified;
mod chaos;
mod cli;
mod contract;
mod disk_full;
mod integrity;
mod kets_product;
mod kwiat;
mod model;
mod per_sample;
mod real_data;
mod report;
mod robustness;
mod slurm;
mod supervisor;
mod threads;
mod util;
