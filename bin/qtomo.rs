//! The `qtomo` binary: all logic lives in the library (`qtomo::cli::run`).

fn main() -> std::process::ExitCode {
    qtomo::cli::run()
}
