//! `guidepost bench`'s settings: the walkthrough mix and its floor, the gateway, the
//! scanner, the catalog search and the dashboard pages.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{ConfinementArgs, ToolchainArgs};

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Steps in the benchmark walkthrough.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub steps: u16,
    /// Also measure the database's floor in the same run: as many clients as users, each
    /// running single-row UPDATEs through a store pool for the same time; prints the mix's
    /// share of it (with --target, needs --database-url).
    #[arg(long)]
    pub floor: bool,
    /// Publish this many call-time policies before the run (one `permit`, the rest
    /// `forbid`s that read the tool, the caller and the arguments and match none of the
    /// benchmark's calls), so that every call is decided by all of them. Compare with a
    /// run without: the difference is the policies' cost per call.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=200))]
    pub policies: u16,
    /// Simulated end users, each with its own tracking id (and session in the session era);
    /// with --gateway, concurrent clients. Default 10, with --gateway 16.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=2000))]
    pub users: Option<u16>,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Protocol era: session (2025-11-25, initialize + Mcp-Session-Id) or stateless (2026-07-28).
    #[arg(long, value_enum, default_value_t = BenchEra::Stateless)]
    pub era: BenchEra,
    /// A running Guidepost to load (e.g. http://127.0.0.1:8080). Without it, the benchmark
    /// starts its own server in this process (rate limits off) on --database-url or a
    /// temporary SQLite file.
    #[arg(long)]
    pub target: Option<String>,
    /// An organization API key for --target.
    #[arg(long, env = "GUIDEPOST_BENCH_API_KEY")]
    pub api_key: Option<String>,
    /// Instead of the walkthrough mix: open this many session-era sessions and leave
    /// them idle, as a flood would, then report how many the target accepted and how much
    /// its memory grew (needs --target, whose /metrics must be reachable).
    #[arg(long, requires = "target", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub idle_sessions: Option<u32>,
    /// With --idle-sessions: spread them over this many loopback source addresses
    /// (127.0.0.2 and up), as if from that many clients.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub addresses: u32,
    /// Instead of the walkthrough mix: load the gateway. Installs this catalog entry (e.g.
    /// everything) in a Guidepost of this process, --gateway-upstreams times, attached to
    /// one hosted server; then --users clients call --gateway-tool for --duration seconds
    /// each way: directly (the upstream's own HTTP transport, see --direct-http, else its
    /// stdio), and through Guidepost in the session and the stateless era, against one
    /// upstream and spread over all. Prints calls/s, p50, p95 and p99 side by side. On
    /// --database-url (a fresh database) or a temporary SQLite file.
    #[arg(long, conflicts_with_all = ["target", "idle_sessions"])]
    pub gateway: Option<String>,
    /// With --gateway: the upstream's tool to call.
    #[arg(long, default_value = "echo", requires = "gateway")]
    pub gateway_tool: String,
    /// With --gateway: its arguments, as a JSON object.
    #[arg(long, default_value = r#"{"message": "bench"}"#, requires = "gateway")]
    pub gateway_arguments: String,
    /// With --gateway: installations of the entry attached to the hosted server, for the
    /// rows whose calls are spread over many upstreams (1: those rows are left out).
    #[arg(long, default_value_t = 10, requires = "gateway", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub gateway_upstreams: u16,
    /// With --gateway: processes of each installation on the node (the entry must be
    /// stateless for more than 1).
    #[arg(long, default_value_t = 1, requires = "gateway", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub replicas: u32,
    /// With --gateway: the arguments that make the entry's program serve MCP over its own
    /// HTTP transport on $PORT, in place of its entry's (`streamableHttp` by default for
    /// the entry `everything`); the direct row loads that. Without them, the direct row
    /// calls the upstream over its stdio.
    #[arg(long, requires = "gateway")]
    pub direct_http: Option<String>,
    /// With --gateway and --direct-http: the path of its MCP endpoint.
    #[arg(long, default_value = "/mcp", requires = "gateway")]
    pub direct_http_path: String,
    /// With --gateway: the operator's catalog file, for entries of its own.
    #[arg(long, env = "GUIDEPOST_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Instead of the walkthrough mix: time the tool-definition scanner on every
    /// definition of its corpus (poisoned and benign, repeated to 1,000 or more), each
    /// against the built-in tools and the benign servers' distinctive names; prints the
    /// time per definition at p50 and p99 and the total for 1,000. Needs no database.
    #[arg(long, conflicts_with_all = ["target", "idle_sessions", "gateway"])]
    pub scan: bool,
    /// Instead of the walkthrough mix: time catalog searches (`GET /api/v1/catalog` with
    /// words, filters and deep pages) over this many imported registry entries, in a
    /// Guidepost of this process on --database-url or a temporary SQLite file; prints
    /// the latency at p50, p95 and p99.
    #[arg(long, conflicts_with_all = ["target", "idle_sessions", "gateway", "scan"],
          value_parser = clap::value_parser!(u32).range(100..=100_000))]
    pub catalog_search: Option<u32>,
    /// With --scan: the corpus directory (crates/scan/tests/scan_corpus of the source
    /// tree this binary was built from, by default).
    #[arg(long, requires = "scan")]
    pub scan_corpus: Option<PathBuf>,
    /// Instead of the walkthrough mix: seed a year of one organization's data in bulk
    /// (--seed-calls tool calls, --seed-end-users, --seed-support-requests) into a Guidepost
    /// of this process, on --database-url or a temporary SQLite file, then load every
    /// data-bearing dashboard page and its API twin --loads times and print p50 and p95 per
    /// page (target: p95 under 150 ms).
    #[arg(long, conflicts_with_all = ["target", "idle_sessions", "gateway", "scan"])]
    pub pages: bool,
    /// With --pages: tool calls to seed, spread over 365 days.
    #[arg(long, default_value_t = 1_000_000, requires = "pages", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub seed_calls: u64,
    /// With --pages: end users to seed.
    #[arg(long, default_value_t = 50_000, requires = "pages", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub seed_end_users: u32,
    /// With --pages: support requests to seed.
    #[arg(long, default_value_t = 10_000, requires = "pages", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub seed_support_requests: u32,
    /// With --pages: timed loads of each page (after one untimed load).
    #[arg(long, default_value_t = 20, requires = "pages", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub loads: u32,
    /// With --gateway: cold starts timed (the upstream stopped on this node, then called
    /// through Guidepost), to show what a launch costs.
    #[arg(long, default_value_t = 0, requires = "gateway", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub cold_starts: u32,
    #[command(flatten)]
    pub toolchain: ToolchainArgs,
    /// With --gateway: how the upstream is confined (`--upstream-confinement=off` measures
    /// the cost of confinement by difference).
    #[command(flatten)]
    pub confinement: ConfinementArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchEra {
    Session,
    Stateless,
}
