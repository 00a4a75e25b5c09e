//! Every line printed goes through `guidepost::output`, which shows control characters
//! instead of sending them to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use guidepost::output;

/// mimalloc rather than glibc's allocator: the profile of a tool call under load spent
/// about a fifth of its time in glibc's malloc and free (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (cli, file) = match guidepost::config::parse_command_line() {
        Ok(parsed) => parsed,
        Err(error) => {
            output::note_line(format_args!("error: {error:#}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let telemetry = match guidepost::telemetry::init(&cli.global) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            output::note_line(format_args!("error: {error:#}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let ran = guidepost::commands::run(cli, file).await;
    telemetry.shutdown().await;
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            output::note_line(format_args!("error: {error:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
