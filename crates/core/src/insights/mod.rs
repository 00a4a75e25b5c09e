//! Insights: what an organization learns about the use of its servers. Every tool call
//! recorded off the call's path (`analytics`), the per-tool report as CSV
//! (`analytics_csv`), what needs a person's attention (`attention`), and what agents
//! looked for on a server and did not find (`missing`).

pub mod analytics;
pub mod analytics_csv;
pub mod attention;
pub mod missing;
