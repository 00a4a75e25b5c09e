//! Every line printed goes through `guidepost::output`, which shows control characters
//! instead of sending them to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use guidepost::cli::LogFormat;
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
    init_tracing(cli.global.log_format);
    match guidepost::commands::run(cli, file).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            output::note_line(format_args!("error: {error:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUIDEPOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,rmcp=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
