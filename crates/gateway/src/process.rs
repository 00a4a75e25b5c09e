//! An upstream's process: confined (`confine`), in a cgroup of its own where the machine
//! offers one and the leader of its own process group, so that stopping it stops every
//! child it started (`npm exec` → `sh` → `node` leaves orphans otherwise, and a child that
//! calls `setsid()` leaves the group but not the cgroup), with its stderr drained into a
//! bounded ring (an undrained pipe blocks the child after ~64 KB).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use guidepost_domain::UpstreamFault;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

use crate::confine::{Cgroup, Egress, Prepared, Reservation};
use crate::orphans::OWNER_VARIABLE;

/// Bytes of stderr kept per upstream, and the longest line kept whole.
const LOG_BYTES: usize = 1024 * 1024;
pub(crate) const LOG_LINE: usize = 4096;
/// Between SIGTERM and SIGKILL when stopping.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Lines kept at most, whatever their length.
const LOG_LINES: usize = 16 * 1024;

/// What a kept line counts against `LOG_BYTES`: its text and its bookkeeping.
fn cost(line: &str) -> usize {
    line.len() + std::mem::size_of::<String>()
}

/// The last lines an upstream wrote to stderr, within `LOG_BYTES` and `LOG_LINES`.
#[derive(Clone, Default)]
pub struct LogRing {
    lines: Arc<Mutex<(VecDeque<String>, usize)>>,
}

impl LogRing {
    pub fn push(&self, line: String) {
        let mut guard = self.lines.lock().expect("log ring lock");
        let (lines, bytes) = &mut *guard;
        // An empty line still costs its place: a flood of newlines stays bounded too.
        *bytes += cost(&line);
        lines.push_back(line);
        while *bytes > LOG_BYTES || lines.len() > LOG_LINES {
            match lines.pop_front() {
                Some(old) => *bytes -= cost(&old),
                None => break,
            }
        }
    }

    /// Keeps a line read from stderr as text; `cut` marks one whose rest was dropped
    /// (longer than `LOG_LINE`), so that nobody reads it as whole.
    pub(crate) fn push_read(&self, line: &[u8], cut: bool) {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        self.push(if cut { format!("{text} …") } else { text });
    }

    pub fn last(&self) -> Option<String> {
        self.lines.lock().expect("log ring lock").0.back().cloned()
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

/// A running upstream process. A task of its own waits for it, so that its exit is
/// seen at once and it is reaped (no zombie) whoever stops it.
pub struct UpstreamProcess {
    pgid: Option<i32>,
    /// Every process of its tree, where cgroups are writable.
    cgroup: Option<Cgroup>,
    /// Its share of the organization's and the node's caps, given back when it is gone.
    pub reservation: Option<Reservation>,
    /// Its way out, if it declared network: held for as long as the process runs.
    _egress: Option<Egress>,
    /// Its directory's file system stays attached while it runs (`confine::disk`).
    _disk: Option<Arc<crate::confine::AttachedDisk>>,
    exited: watch::Receiver<bool>,
    /// How it ended, once it has: its exit code or the signal that killed it.
    status: Arc<OnceLock<std::process::ExitStatus>>,
    /// Ends when stderr is closed (every process of the group has exited).
    drained: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for UpstreamProcess {
    /// A process dropped without `stop` (a launch given up mid-handshake) is killed with
    /// its whole group all the same.
    fn drop(&mut self) {
        if self.drained.is_some() {
            self.signal(libc::SIGKILL);
            if let Some(cgroup) = &self.cgroup {
                cgroup.kill_now();
                cgroup.remove();
            }
        }
    }
}

/// How long a stop waits for the group's last stderr lines.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Spawns `program args` in `workdir` (also its HOME and TMPDIR) with only `env`, a
/// minimal PATH and the owner marker, stdio piped, as the leader of a new process group,
/// confined as `confinement` prepared it.
pub fn spawn(
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    workdir: &Path,
    owner: &str,
    logs: &LogRing,
    mut confinement: Prepared,
) -> Result<(UpstreamProcess, ChildStdout, ChildStdin), UpstreamFault> {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(workdir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", workdir)
        .env("TMPDIR", workdir)
        .envs(env)
        .env(OWNER_VARIABLE, owner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    confinement.apply(&mut command);
    let mut child = command.spawn().map_err(|e| UpstreamFault::CannotStart {
        program: program.display().to_string(),
        missing: e.kind() == std::io::ErrorKind::NotFound,
        error: e.to_string(),
    })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stdin = child.stdin.take().expect("stdin is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let drained = tokio::spawn(drain(stderr, logs.clone()));
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let (tell, exited) = watch::channel(false);
    let status = Arc::new(OnceLock::new());
    let ended = status.clone();
    tokio::spawn(async move {
        if let Ok(status) = child.wait().await {
            let _ = ended.set(status);
        }
        let _ = tell.send(true);
    });
    let process = UpstreamProcess {
        pgid,
        cgroup: confinement.cgroup.take(),
        reservation: None,
        _egress: confinement.egress.take(),
        _disk: confinement.disk.take(),
        exited,
        status,
        drained: Some(drained),
    };
    Ok((process, stdout, stdin))
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
                logs.push_read(&line, !complete);
                if !complete && !skip_line(&mut reader).await {
                    return;
                }
            }
        }
    }
}

/// Discards the rest of an over-long line a buffer at a time, so that a line with no end
/// (gigabytes without a newline) costs no more memory than the reader's buffer. False at
/// the end of stderr.
async fn skip_line(reader: &mut tokio::io::BufReader<tokio::process::ChildStderr>) -> bool {
    loop {
        let buffered = match reader.fill_buf().await {
            Ok([]) | Err(_) => return false,
            Ok(buffered) => buffered,
        };
        match buffered.iter().position(|&byte| byte == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return true;
            }
            None => {
                let all = buffered.len();
                reader.consume(all);
            }
        }
    }
}

impl UpstreamProcess {
    /// How it ended, once it has: the fault that says so, with its exit code or the
    /// signal that killed it.
    pub fn ended(&self) -> Option<UpstreamFault> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.status.get()?;
        Some(UpstreamFault::Exited {
            code: status.code(),
            signal: status.signal(),
        })
    }

    /// Whether the process has exited.
    pub fn exited(&self) -> bool {
        *self.exited.borrow()
    }

    /// Resolves when the process exits.
    pub fn exit(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut exited = self.exited.clone();
        async move {
            let _ = exited.wait_for(|gone| *gone).await;
        }
    }

    /// SIGTERM to the whole group, SIGKILL after the grace; then SIGKILL to everything
    /// left in its cgroup (what left the group with `setsid()`).
    pub async fn stop(mut self) {
        self.signal(libc::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, self.exit()).await.is_err() {
            self.signal(libc::SIGKILL);
            self.exit().await;
        }
        // Children that ignored SIGTERM after their leader left.
        self.signal(libc::SIGKILL);
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.stop().await;
        }
        // So that the logs hold what it said last.
        if let Some(drained) = self.drained.take() {
            let _ = tokio::time::timeout(DRAIN_GRACE, drained).await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_ring_stays_bounded_by_bytes_and_by_lines() {
        let ring = LogRing::default();
        for _ in 0..100_000 {
            ring.push(String::new());
        }
        assert_eq!(ring.lines().len(), LOG_LINES, "empty lines count too");
        for n in 0..10_000 {
            ring.push(format!("{n:05} {}", "x".repeat(1000)));
        }
        let lines = ring.lines();
        let bytes: usize = lines.iter().map(|l| cost(l)).sum();
        assert!(bytes <= LOG_BYTES, "{bytes}");
        assert!(
            lines.last().unwrap().starts_with("09999"),
            "the newest kept"
        );
    }
}
