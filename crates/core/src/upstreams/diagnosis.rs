//! Why an upstream failed, in words: a pure reading of its last error and the stderr this
//! node captured. The line that names the cause is rarely the last one (Node prints its
//! version after a stack trace, Python the exception after a traceback), so every line is
//! read, newest first, for what names a cause, in order of how specific it is: a missing
//! module, a missing program, a network failure, a handshake that timed out, an exit.
//! What Guidepost observed itself (a handshake that timed out, a program it could not
//! start, an exit, a missed ping) comes typed, as the upstream's [`UpstreamFault`], and is
//! matched, not read: only what the upstream printed is parsed. A stop for idleness is
//! no failure, and has no diagnosis.

use guidepost_domain::{FailureCause, UpstreamDiagnosis, UpstreamFault};

/// The most log lines read (the newest).
const LINES_READ: usize = 2_000;
/// The longest evidence line shown.
const EVIDENCE_CHARS: usize = 500;

/// The failure explained, when there is a last error, with the fault Guidepost observed
/// if it did; `stderr` oldest first.
pub(crate) fn diagnose(
    last_error: Option<&str>,
    fault: Option<&UpstreamFault>,
    stderr: &[String],
) -> Option<UpstreamDiagnosis> {
    let last_error = last_error?;
    // A fault counts only while the words are its own: a node of an older build writes
    // the words and leaves an earlier failure's fault in place.
    let fault = fault.filter(|fault| last_error.starts_with(&fault.to_string()));
    if fault == Some(&UpstreamFault::StoppedIdle) {
        return None;
    }
    let recent = &stderr[stderr.len().saturating_sub(LINES_READ)..];
    // Newest first, then the last error: it quotes at most the log's last line, and on
    // another node it is all there is.
    let lines: Vec<&str> = recent
        .iter()
        .rev()
        .map(String::as_str)
        .chain(std::iter::once(last_error))
        .collect();
    // The newest line of a kind that names what is missing or unreachable, else the
    // newest of that kind (Node prints `code: 'ENOTFOUND'` below the line with the host).
    let first = |read: fn(&str) -> Option<Found>| {
        let mut found = lines
            .iter()
            .filter_map(|line| read(line).map(|found| (found, *line)));
        let newest = found.next()?;
        if newest.0.names_something() {
            return Some(newest);
        }
        Some(found.find(|(f, _)| f.names_something()).unwrap_or(newest))
    };
    let observed = |wanted: fn(&UpstreamFault) -> Option<Found>| {
        fault.and_then(wanted).map(|found| (found, last_error))
    };
    let (found, line) = observed(past_a_limit)
        .or_else(|| first(missing_module))
        .or_else(|| first(missing_program))
        .or_else(|| observed(program_not_found))
        .or_else(|| first(network))
        .or_else(|| observed(handshake_timeout))
        .or_else(|| observed(unresponsive))
        .or_else(|| observed(ended_as_seen))
        .or_else(|| first(exited))
        .or_else(|| observed(ended_unseen))
        .unwrap_or((Found::Unrecognized, last_error));
    // For an exit or an unrecognized failure, the line worth showing is the last error
    // the program printed, if it printed one.
    let evidence = match found {
        Found::Exited(_) | Found::Killed(_) | Found::Unrecognized => lines
            .iter()
            .find(|line| looks_like_an_error(line))
            .copied()
            .or(Some(line).filter(|line| !line.is_empty())),
        _ => Some(line),
    };
    Some(explained(found, evidence.map(shown)))
}

/// What a line named.
#[derive(Debug, PartialEq)]
enum Found {
    MissingModule(Option<String>),
    MissingProgram(Option<String>),
    Network(Network, Option<String>),
    HandshakeTimeout,
    Unresponsive,
    /// Past the operator's maximum (`OverMaximum`) or a cap of the node (`CapReached`),
    /// with the flag that sets it.
    PastLimit {
        cap: bool,
        flag: String,
    },
    Exited(Option<i64>),
    Killed(i32),
    Unrecognized,
}

impl Found {
    fn names_something(&self) -> bool {
        match self {
            Found::MissingModule(name) | Found::MissingProgram(name) => name.is_some(),
            Found::Network(_, target) => target.is_some(),
            Found::Exited(code) => code.is_some(),
            Found::HandshakeTimeout
            | Found::Unresponsive
            | Found::PastLimit { .. }
            | Found::Killed(_)
            | Found::Unrecognized => true,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Network {
    Dns,
    Refused,
    Tls,
    Other,
}

fn missing_module(line: &str) -> Option<Found> {
    let name = quoted_after(line, "Cannot find module ")
        .or_else(|| quoted_after(line, "Cannot find package "))
        .or_else(|| quoted_after(line, "No module named "))
        .or_else(|| quoted_after(line, "cannot import name "));
    let named = name.is_some()
        || line.contains("ModuleNotFoundError")
        || line.contains("ERR_MODULE_NOT_FOUND")
        || line.contains("No module named");
    named.then_some(Found::MissingModule(name))
}

fn missing_program(line: &str) -> Option<Found> {
    if let Some(before) = line.strip_suffix(": command not found") {
        return Some(Found::MissingProgram(last_field(before)));
    }
    if let Some(before) = line.strip_suffix(": not found")
        && (before.starts_with("sh:") || before.starts_with("/bin/sh:"))
    {
        return Some(Found::MissingProgram(last_field(before)));
    }
    if let Some(rest) = line.split("spawn ").nth(1)
        && let Some((program, _)) = rest.split_once(" ENOENT")
    {
        return Some(Found::MissingProgram(Some(program.trim().to_owned())));
    }
    if line.contains("executable file not found in $PATH") {
        return Some(Found::MissingProgram(quoted_after(line, "exec: ")));
    }
    if line.starts_with("env: ") && line.ends_with("No such file or directory") {
        return Some(Found::MissingProgram(quoted_after(line, "env: ")));
    }
    if line.contains("FileNotFoundError") && line.contains("No such file or directory") {
        return Some(Found::MissingProgram(quoted_after(line, "directory: ")));
    }
    None
}

fn network(line: &str) -> Option<Found> {
    const DNS: [&str; 8] = [
        "ENOTFOUND",
        "EAI_AGAIN",
        "Name or service not known",
        "Temporary failure in name resolution",
        "nodename nor servname",
        "failed to lookup address",
        "Could not resolve host",
        "dns error",
    ];
    const REFUSED: [&str; 2] = ["ECONNREFUSED", "Connection refused"];
    const TLS: [&str; 11] = [
        "CERTIFICATE_VERIFY_FAILED",
        "certificate verify failed",
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        "SELF_SIGNED_CERT",
        "self signed certificate",
        "self-signed certificate",
        "CERT_HAS_EXPIRED",
        "certificate has expired",
        "invalid peer certificate",
        "ERR_TLS_CERT_ALTNAME_INVALID",
        "SSLError",
    ];
    const OTHER: [&str; 8] = [
        "ETIMEDOUT",
        "ECONNRESET",
        "ENETUNREACH",
        "EHOSTUNREACH",
        "Network is unreachable",
        "No route to host",
        "Connection timed out",
        "Connection reset by peer",
    ];
    let has = |markers: &[&'static str]| -> Option<&'static str> {
        markers.iter().find(|m| line.contains(**m)).copied()
    };
    if let Some(marker) = has(&DNS) {
        return Some(Found::Network(Network::Dns, word_after(line, marker)));
    }
    if let Some(marker) = has(&REFUSED) {
        return Some(Found::Network(Network::Refused, word_after(line, marker)));
    }
    if has(&TLS).is_some() {
        return Some(Found::Network(Network::Tls, None));
    }
    has(&OTHER).map(|_| Found::Network(Network::Other, None))
}

/// A program Guidepost could not start because it does not exist.
fn program_not_found(fault: &UpstreamFault) -> Option<Found> {
    match fault {
        UpstreamFault::CannotStart {
            program,
            missing: true,
            ..
        } => Some(Found::MissingProgram(Some(program.clone()))),
        _ => None,
    }
}

/// An upstream that asked for more than the operator allows, or would pass a node's cap.
fn past_a_limit(fault: &UpstreamFault) -> Option<Found> {
    match fault {
        UpstreamFault::OverMaximum { flag, .. } => Some(Found::PastLimit {
            cap: false,
            flag: flag.clone(),
        }),
        UpstreamFault::CapReached { flag, .. } => Some(Found::PastLimit {
            cap: true,
            flag: flag.clone(),
        }),
        _ => None,
    }
}

/// A running upstream that stopped answering pings.
fn unresponsive(fault: &UpstreamFault) -> Option<Found> {
    match fault {
        UpstreamFault::PingFailed { .. } | UpstreamFault::PingTimeout { .. } => {
            Some(Found::Unresponsive)
        }
        _ => None,
    }
}

/// A process Guidepost saw end, with how: its exit code (not 0, which is no failure's)
/// or the signal that killed it.
fn ended_as_seen(fault: &UpstreamFault) -> Option<Found> {
    let (UpstreamFault::Exited { code, signal }
    | UpstreamFault::HandshakeFailed { code, signal, .. }) = fault
    else {
        return None;
    };
    match (code, signal) {
        (Some(code), _) if *code != 0 => Some(Found::Exited(Some(i64::from(*code)))),
        (None, Some(signal)) => Some(Found::Killed(*signal)),
        _ => None,
    }
}

/// A process that ended, or a handshake that failed, without a code to tell.
fn ended_unseen(fault: &UpstreamFault) -> Option<Found> {
    matches!(
        fault,
        UpstreamFault::Exited { .. } | UpstreamFault::HandshakeFailed { .. }
    )
    .then_some(Found::Exited(None))
}

fn handshake_timeout(fault: &UpstreamFault) -> Option<Found> {
    matches!(fault, UpstreamFault::HandshakeTimeout { .. }).then_some(Found::HandshakeTimeout)
}

/// An exit code a line names (a wrapper script, a supervisor inside the upstream).
fn exited(line: &str) -> Option<Found> {
    const CODED: [&str; 6] = [
        "exited with code ",
        "exited with status ",
        "non-zero exit status ",
        "exit status: ",
        "exit status ",
        "exit code ",
    ];
    let code = CODED
        .iter()
        .find_map(|marker| line.split(marker).nth(1).and_then(leading_number))?;
    (code != 0).then_some(Found::Exited(Some(code)))
}

/// Whether a line reads as an error the program printed: `Error: …`, `ValueError: …`,
/// `error: …`, `FATAL …`, `panicked at …`.
fn looks_like_an_error(line: &str) -> bool {
    let line = line.trim_start();
    if line.starts_with("at ") || line.starts_with("File \"") {
        return false;
    }
    let head = line.split(':').next().unwrap_or_default();
    let named_error = !head.contains(' ')
        && line.contains(':')
        && (head.ends_with("Error") || head.ends_with("Exception") || head.ends_with("error"));
    named_error
        || head.starts_with("Error [")
        || line.to_lowercase().starts_with("fatal")
        || line.contains("panicked at")
}

fn explained(found: Found, evidence: Option<String>) -> UpstreamDiagnosis {
    let restart = "then restart it.";
    let (cause, summary, advice) = match found {
        Found::MissingModule(name) => (
            FailureCause::MissingModule,
            match name {
                Some(name) => format!(
                    "It could not load the module {name}, which its package does not bring."
                ),
                None => {
                    "It could not load a module it needs, which its package does not bring.".into()
                }
            },
            format!(
                "This version of the package is broken or needs a dependency it does not declare: upgrade to another version, or tell its maintainers; {restart}"
            ),
        ),
        Found::MissingProgram(name) => (
            FailureCause::MissingProgram,
            match name {
                Some(name) => {
                    format!("It tried to run {name}, which is not installed where upstreams run.")
                }
                None => {
                    "It tried to run a program that is not installed where upstreams run.".into()
                }
            },
            format!(
                "Upstreams see only /usr/local/bin, /usr/bin and /bin and what their package brings: install the program on every node, or choose an entry that does not need it; {restart}"
            ),
        ),
        Found::Network(kind, target) => {
            let target = target.map(|t| format!(" {t}")).unwrap_or_default();
            let (summary, advice) = match kind {
                Network::Dns => (
                    format!(
                        "It could not find the address of{}{target} (DNS).",
                        if target.is_empty() {
                            " a host it connects to"
                        } else {
                            ""
                        }
                    ),
                    "Check the host name in its settings. An upstream whose entry has no network cannot resolve names at all.",
                ),
                Network::Refused => (
                    format!(
                        "Its connection to{}{target} was refused: nothing listens there, or it is not reachable.",
                        if target.is_empty() { " a service" } else { "" }
                    ),
                    "Check the address and port in its settings and that the service is up; private and local addresses are refused to upstreams unless the operator allows them.",
                ),
                Network::Tls => (
                    "A TLS connection failed: the server's certificate was not accepted.".into(),
                    "The service needs a valid certificate for its name: check the URL (https, the right host), or ask the service's operator.",
                ),
                Network::Other => (
                    "A network connection failed or timed out.".into(),
                    "Check the addresses in its settings and that its entry has network access.",
                ),
            };
            (
                FailureCause::Network,
                summary,
                format!("{advice} Then restart it."),
            )
        }
        Found::PastLimit { cap: false, flag } => (
            FailureCause::Limits,
            "Its entry asks for more than this platform allows an upstream.".into(),
            format!(
                "Lower the limits its entry asks for, or ask the operator to raise {flag}; {restart}"
            ),
        ),
        Found::PastLimit { cap: true, flag } => (
            FailureCause::Limits,
            "Starting it would pass a cap on what upstreams use together on this node.".into(),
            format!(
                "Stop or uninstall another upstream, or ask the operator to raise {flag}; {restart}"
            ),
        ),
        Found::Unresponsive => (
            FailureCause::Unresponsive,
            "It was running, then stopped answering pings.".into(),
            format!(
                "Something in it hangs (a blocking call, a lock, a loop that never yields) or it is starved of memory or processes; the log below shows what it did last. Fix the cause, {restart}"
            ),
        ),
        Found::Killed(signal) => (
            FailureCause::Exited,
            format!(
                "It was killed by signal {signal}{}.",
                signal_meaning(signal)
            ),
            format!(
                "A process past its memory limit is killed with signal 9: raise the limit in its entry if it needs more, or look for what grows; {restart}"
            ),
        ),
        Found::HandshakeTimeout => (
            FailureCause::HandshakeTimeout,
            "It started, but did not answer the MCP handshake in time.".into(),
            format!(
                "Check that it speaks MCP over stdio and writes only MCP messages to stdout (logs go to stderr), and that nothing it does at start waits for input or a slow download; {restart}"
            ),
        ),
        Found::Exited(code) => (
            FailureCause::Exited,
            match code {
                Some(code) => format!("It exited with code {code}."),
                None => "It exited before it was ready.".into(),
            },
            format!(
                "The line below is the last error it printed; a missing or wrong setting or secret is the usual cause. Fix it in Name, version and settings, {restart}"
            ),
        ),
        Found::Unrecognized => (
            FailureCause::Unrecognized,
            "It failed for a reason Guidepost does not recognize.".into(),
            format!("Read the last error and the log below; fix the cause, {restart}"),
        ),
    };
    UpstreamDiagnosis {
        cause,
        summary,
        evidence,
        advice,
    }
}

/// What a signal usually means for an upstream, in words after its number.
fn signal_meaning(signal: i32) -> &'static str {
    match signal {
        9 => " (SIGKILL: the kernel sends it to a process past its memory limit)",
        11 => " (SIGSEGV: it crashed)",
        6 => " (SIGABRT: it aborted)",
        15 => " (SIGTERM: something asked it to stop)",
        _ => "",
    }
}

/// The quoted text right after `marker` ('x', "x", ‘x’), or its first word unquoted.
fn quoted_after(line: &str, marker: &str) -> Option<String> {
    let rest = line.split(marker).nth(1)?.trim_start();
    let mut chars = rest.chars();
    let open = chars.next()?;
    let close = match open {
        '\'' | '"' | '`' => open,
        '‘' => '’',
        _ => return word_after(line, marker),
    };
    let inner: String = chars.take_while(|c| *c != close).collect();
    (!inner.is_empty()).then_some(inner)
}

/// The word after `marker`, when it looks like a host or address.
fn word_after(line: &str, marker: &str) -> Option<String> {
    let word = line.split(marker).nth(1)?.split_whitespace().next()?;
    let word = word.trim_matches(|c: char| matches!(c, '\'' | '"' | ',' | ';' | ')' | '('));
    let plausible = !word.is_empty()
        && word.len() <= 255
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    plausible.then(|| word.to_owned())
}

/// The last `:`-separated field before a shell's "not found" (`sh: 1: uvx`).
fn last_field(before: &str) -> Option<String> {
    let field = before.rsplit(':').next()?.trim();
    (!field.is_empty()).then(|| field.to_owned())
}

fn leading_number(text: &str) -> Option<i64> {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// A line as it may be shown: trimmed, without control characters, bounded.
fn shown(line: &str) -> String {
    let printable: String = line.trim().chars().filter(|c| !c.is_control()).collect();
    if printable.chars().count() <= EVIDENCE_CHARS {
        return printable;
    }
    let mut cut: String = printable.chars().take(EVIDENCE_CHARS).collect();
    cut.push_str(" …");
    cut
}

#[cfg(test)]
#[path = "diagnosis_tests.rs"]
mod tests;
