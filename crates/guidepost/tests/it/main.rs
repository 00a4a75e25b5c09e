//! Integration tests: the real application on port 0 against a fresh database, on
//! SQLite and (with GUIDEPOST_TEST_POSTGRES_URL) PostgreSQL, driven over HTTP and by the
//! official MCP clients.

mod dns_server;
mod helpers;
mod node;
mod oauth_helpers;
mod oidc_idp;
mod pg_cluster;

mod api;
mod bad_input;
mod browser;
mod cli_admin;
mod conformance;
mod conformance_auth;
mod content_as_code;
mod cross_tenant;
mod custom_domains;
mod database_outage;
mod faults;
mod floods;
mod fuzz_mcp;
mod gateway;
mod gateway_container;
mod gateway_fixture;
mod gateway_isolation;
mod gateway_lifecycle;
mod gateway_pinning;
mod gateway_remote;
mod gateway_review;
mod gateway_secrets;
mod gateway_supervision;
mod hardening;
mod isolation_sweep;
mod limits;
mod node_cache;
mod node_clients;
mod node_oauth;
mod oauth_cimd;
mod oauth_custom;
mod oauth_flow;
mod oauth_refusals;
mod oauth_stories;
mod operations;
mod param_headers;
mod person_picture;
mod podman;
mod python_client;
mod request_logs;
mod scale_out;
mod sign_in_hardening;
mod tasks;
mod walkthrough_runtime;
mod walkthrough_seed;
mod walkthrough_stories;
mod webhooks;
