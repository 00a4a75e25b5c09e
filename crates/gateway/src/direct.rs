//! Calling an upstream directly, as a client on the same host would without Guidepost:
//! the baseline of the gateway benchmark (`guidepost bench --gateway`). Over its stdio
//! (one connection, its calls concurrent on it), or over its own HTTP transport (the
//! program started with the arguments that make it serve HTTP, which the benchmark then
//! loads as it loads Guidepost).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use guidepost_domain::Upstream;
use rmcp::model::CallToolRequestParams;
use serde_json::Value;

use crate::GatewayOptions;
use crate::launch::{self, Launch};
use crate::process::LogRing;

/// How long the upstream's own HTTP server has to start listening.
const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// Why the upstream could not be loaded directly.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// It could not be resolved or started, in the launch's words.
    #[error("{0}")]
    NotLaunched(String),
    #[error("a caller failed: {0}")]
    CallerFailed(#[source] tokio::task::JoinError),
    #[error("only a process upstream can be started with other arguments")]
    NotAProcess,
    #[error(transparent)]
    NoFreePort(std::io::Error),
    #[error("cannot start {}: {source}", program.display())]
    NotStarted {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nothing listened on port {port} within 30 s")]
    NotListening { port: u16 },
}

/// Latencies (µs) of the calls that succeeded in the timed window, and the failed ones.
#[derive(Debug, Default)]
pub struct DirectSamples {
    pub latencies_us: Vec<i64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// How long the timed calls took, the last one's end included.
    pub window: Duration,
}

/// Starts `upstream` on its own (unconfined, as its own child) and has `users` callers
/// call `tool` over its stdio, all on the one connection, each waiting for its answer
/// before the next; calls during `warmup` are not timed, then `duration` is.
pub async fn load_stdio(
    options: &GatewayOptions,
    upstream: &Upstream,
    (tool, arguments): (&str, &Value),
    users: u16,
    (warmup, duration): (Duration, Duration),
) -> Result<DirectSamples, DirectError> {
    let launch = launch::resolve(upstream, options, &Default::default(), None)
        .await
        .map_err(DirectError::NotLaunched)?;
    let (process, client) = launch::connect((), &launch, &LogRing::default(), options, None)
        .await
        .map_err(|e| DirectError::NotLaunched(e.to_string()))?;
    let params = match arguments {
        Value::Object(arguments) => {
            CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone())
        }
        _ => CallToolRequestParams::new(tool.to_owned()),
    };
    let timed_from = Instant::now() + warmup;
    let until = timed_from + duration;
    let callers = (0..users).map(|_| {
        let (peer, params) = (client.peer().clone(), params.clone());
        tokio::spawn(async move {
            let mut samples = DirectSamples::default();
            loop {
                let started = Instant::now();
                if started >= until {
                    return samples;
                }
                let result = peer.call_tool(params.clone()).await;
                if started < timed_from {
                    continue;
                }
                match result {
                    Ok(result) if result.is_error != Some(true) => samples
                        .latencies_us
                        .push(started.elapsed().as_micros() as i64),
                    Ok(result) => fail(&mut samples, format!("a tool error: {:?}", result.content)),
                    Err(e) => fail(&mut samples, format!("no answer: {e}")),
                }
            }
        })
    });
    let mut all = DirectSamples::default();
    for caller in futures::future::join_all(callers).await {
        let samples = caller.map_err(DirectError::CallerFailed)?;
        all.latencies_us.extend(samples.latencies_us);
        all.errors += samples.errors;
        all.first_error = all.first_error.or(samples.first_error);
    }
    all.window = timed_from.elapsed().max(duration);
    let _ = client.cancel().await;
    if let Some(child) = process {
        child.stop().await;
    }
    Ok(all)
}

fn fail(samples: &mut DirectSamples, why: String) {
    samples.errors += 1;
    samples.first_error.get_or_insert(why);
}

/// The upstream's program serving MCP over its own HTTP transport on a port of this host;
/// killed (its whole process group) when dropped.
pub struct DirectServer {
    child: tokio::process::Child,
    pub port: u16,
}

impl DirectServer {
    /// Its MCP endpoint, at `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for DirectServer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: signalling a process group of our own child; no memory is touched.
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}

/// Starts `upstream`'s program with `transport_args` in place of its entry's arguments
/// and `PORT` set to a free port of this host (server-everything's `streamableHttp`
/// serves MCP at `/mcp` there), unconfined, its output discarded; answers once the port
/// accepts connections.
pub async fn serve_http(
    options: &GatewayOptions,
    upstream: &Upstream,
    transport_args: &[String],
) -> Result<DirectServer, DirectError> {
    let Launch::Process {
        program,
        args,
        env,
        workdir,
        ..
    } = launch::resolve(upstream, options, &Default::default(), None)
        .await
        .map_err(DirectError::NotLaunched)?
    else {
        return Err(DirectError::NotAProcess);
    };
    // Only a process gets here: its entry's arguments come last.
    let entry_args = upstream.spec.args().len();
    let program_args = &args[..args.len().saturating_sub(entry_args)];
    let port = free_port().map_err(DirectError::NoFreePort)?;
    let child = tokio::process::Command::new(&program)
        .args(program_args)
        .args(transport_args)
        .current_dir(&workdir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &workdir)
        .envs(&env)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| DirectError::NotStarted {
            program: program.clone(),
            source,
        })?;
    let server = DirectServer { child, port };
    let deadline = Instant::now() + LISTEN_WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() >= deadline {
            return Err(DirectError::NotListening { port });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

/// A port of this host free right now.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr().map(|address| address.port())
}
