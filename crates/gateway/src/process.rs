//! An upstream's process: the leader of its own process group, so that stopping it stops
//! every child it started (`npm exec` → `sh` → `node` leaves orphans otherwise), with its
//! stderr drained into a bounded ring (an undrained pipe blocks the child after ~64 KB).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Bytes of stderr kept per upstream, and the longest line kept whole.
const LOG_BYTES: usize = 1024 * 1024;
const LOG_LINE: usize = 4096;
/// Between SIGTERM and SIGKILL when stopping.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The last lines an upstream wrote to stderr, within `LOG_BYTES`.
#[derive(Clone, Default)]
pub struct LogRing {
    lines: Arc<Mutex<(VecDeque<String>, usize)>>,
}

impl LogRing {
    pub fn push(&self, line: String) {
        let mut guard = self.lines.lock().expect("log ring lock");
        let (lines, bytes) = &mut *guard;
        *bytes += line.len();
        lines.push_back(line);
        while *bytes > LOG_BYTES {
            match lines.pop_front() {
                Some(old) => *bytes -= old.len(),
                None => break,
            }
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .expect("log ring lock")
            .0
            .iter()
            .cloned()
            .collect()
    }
}

/// A running upstream process.
pub struct UpstreamProcess {
    child: Child,
    pgid: Option<i32>,
}

/// Spawns `program args` with only `env` (and a minimal PATH), stdio piped.
pub fn spawn(
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    logs: &LogRing,
) -> Result<(UpstreamProcess, ChildStdout, ChildStdin), String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stdin = child.stdin.take().expect("stdin is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    tokio::spawn(drain(stderr, logs.clone()));
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    Ok((UpstreamProcess { child, pgid }, stdout, stdin))
}

/// Reads stderr line by line with a bound on each line, into the ring.
async fn drain(stderr: tokio::process::ChildStderr, logs: LogRing) {
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(LOG_LINE as u64)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let complete = line.ends_with(b"\n");
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                logs.push(if complete {
                    text
                } else {
                    format!("{text} …")
                });
                if !complete {
                    // Skip the rest of an over-long line.
                    let mut rest = Vec::new();
                    if reader.read_until(b'\n', &mut rest).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            }
        }
    }
}

impl UpstreamProcess {
    /// Whether the process has exited (it is reaped if so).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGTERM to the whole group, SIGKILL after the grace; reaps the leader.
    pub async fn stop(mut self) {
        self.signal(libc::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait().await;
        }
        // Children that ignored SIGTERM after their leader left.
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: i32) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg only sends a signal; the group is the one this process leads.
            unsafe {
                libc::killpg(pgid, signal);
            }
        }
    }
}
