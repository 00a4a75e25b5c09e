//! The `guidepost` binary's library half: configuration, the HTTP application and the
//! CLI commands. Tests start the real application through [`app::start`].
//!
//! Architecture invariant: this crate wires the others together; it holds no business
//! rule, no SQL and no MCP protocol code. `anyhow` is used here and nowhere else.
//!
//! Nothing prints but `output`, which makes control characters visible: a command cannot
//! forget to.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dns;
mod hooks;
mod http_server;
mod nul_guard;
mod ops;
pub mod output;
mod panic_answer;
pub mod registry_worker;
mod request_span;
pub mod telemetry;
mod trace_sampling;
pub mod webhook_worker;
