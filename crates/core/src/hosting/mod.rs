//! Hosting: the MCP servers organizations host. Their rules, URLs and install snippets
//! (`servers`, `urls`); which server an address names (`routing`, `domains`); how clients
//! find them (`discovery`); the sessions and long-running tasks of calls made to them
//! (`sessions`, `tasks`); and the single tools switched off on one (`tool_switches`).

pub mod discovery;
pub mod domains;
pub mod routing;
pub mod servers;
pub mod sessions;
pub mod tasks;
pub mod tool_switches;
pub mod urls;
