//! `spawn_app()` and the typed helpers that tests read like user stories with.

mod api_client;
mod app;
mod processes;
mod raw_mcp;
mod seeding;

pub use api_client::{ApiClient, Reply};
pub use app::{
    Tenant, TestApp, operator, personal_client, spawn_app, spawn_app_with,
    unlimited_app_with_server,
};
pub use processes::{
    files_under, json_report, python, python_script, python_smoke, serve_process,
    serve_process_with, workspace_root,
};
pub use raw_mcp::{Answer, RawMcp, SESSION_ERA, STATELESS_ERA, tool_names};
pub use seeding::{Seeded, SeededWalkthrough, seeded_and_stopped};
