use super::*;

fn log(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

const HANDSHAKE_FAILED: &str = "the MCP handshake failed: connection closed: initialize \
     response; it stopped 3 times in a row; restart it once fixed (its last stderr line: \
     Node.js v20.20.2)";

#[test]
fn a_node_module_missing_70_lines_up_is_named_with_its_line() {
    let mut lines = log("node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /var/cache/guidepost/npm/4f1c/node_modules/@acme/mcp-server/dist/index.js");
    for i in 0..60 {
        lines.push(format!(
            "    at Module._load (node:internal/modules/cjs/loader:{i}:27)"
        ));
    }
    lines.extend(log("{
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/var/cache/guidepost/npm/4f1c/dist/index.js' ]
}

Node.js v20.20.2"));
    let found = diagnose(Some(HANDSHAKE_FAILED), None, &lines).unwrap();
    assert_eq!(found.cause, FailureCause::MissingModule);
    assert_eq!(
        found.evidence.as_deref(),
        Some("Error: Cannot find module 'express'")
    );
    assert!(found.summary.contains("express"), "{}", found.summary);
    assert!(found.advice.contains("upgrade"), "{}", found.advice);

    // An ES module's missing package.
    let esm = log("node:internal/errors:496
Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'zod' imported from /srv/index.mjs
Node.js v22.3.0");
    let found = diagnose(Some(HANDSHAKE_FAILED), None, &esm).unwrap();
    assert_eq!(found.cause, FailureCause::MissingModule);
    assert!(found.summary.contains("zod"), "{}", found.summary);
}

#[test]
fn a_python_module_missing_is_named_from_the_traceback() {
    let lines = log("Traceback (most recent call last):
  File \"/var/cache/guidepost/pypi/9a/bin/acme-mcp\", line 5, in <module>
    from acme_mcp.server import main
  File \"/var/cache/guidepost/pypi/9a/acme_mcp/server.py\", line 3, in <module>
    import httpx
ModuleNotFoundError: No module named 'httpx'");
    let found = diagnose(Some("the upstream process exited"), None, &lines).unwrap();
    assert_eq!(found.cause, FailureCause::MissingModule);
    assert_eq!(
        found.evidence.as_deref(),
        Some("ModuleNotFoundError: No module named 'httpx'")
    );
    assert!(found.summary.contains("httpx"));
}

#[test]
fn a_missing_program_is_named_by_shell_node_and_the_gateway() {
    let cases = [
        ("/bin/sh: 1: uvx: not found", "uvx"),
        ("bash: line 1: docker: command not found", "docker"),
        (
            "Error: spawn git ENOENT\n    at ChildProcess._handle.onexit (node:internal/child_process:284:19)",
            "git",
        ),
        ("env: ‘python3’: No such file or directory", "python3"),
        (
            "FileNotFoundError: [Errno 2] No such file or directory: 'ffmpeg'",
            "ffmpeg",
        ),
    ];
    for (text, program) in cases {
        let found = diagnose(Some(HANDSHAKE_FAILED), None, &log(text)).unwrap();
        assert_eq!(found.cause, FailureCause::MissingProgram, "{text}");
        assert!(found.summary.contains(program), "{text}: {}", found.summary);
        assert!(found.advice.contains("/usr/bin"), "{}", found.advice);
    }
    // Nothing in the log: what the gateway observed names it, whatever its words.
    let fault = UpstreamFault::CannotStart {
        program: "/opt/tools/acme".into(),
        missing: true,
        error: "No such file or directory (os error 2)".into(),
    };
    let error = fault.to_string();
    let found = diagnose(Some(&error), Some(&fault), &[]).unwrap();
    assert_eq!(found.cause, FailureCause::MissingProgram);
    assert!(
        found.summary.contains("/opt/tools/acme"),
        "{}",
        found.summary
    );
    assert_eq!(found.evidence.as_deref(), Some(error.as_str()));
    // Without the fault, the same words are not read as a missing program: Guidepost's
    // own sentences are matched as values, never parsed.
    let words_only = diagnose(Some(&error), None, &[]).unwrap();
    assert_ne!(words_only.cause, FailureCause::MissingProgram);
}

#[test]
fn network_failures_say_dns_refused_or_tls() {
    let dns = log("Error: getaddrinfo ENOTFOUND api.acme.example
    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26) {
  errno: -3008,
  code: 'ENOTFOUND',
  syscall: 'getaddrinfo',
  hostname: 'api.acme.example'
}
Node.js v20.20.2");
    let found = diagnose(Some(HANDSHAKE_FAILED), None, &dns).unwrap();
    assert_eq!(found.cause, FailureCause::Network);
    assert!(found.summary.contains("DNS"), "{}", found.summary);
    assert!(
        found.summary.contains("api.acme.example"),
        "{}",
        found.summary
    );

    let refused = log("httpx.ConnectError: [Errno 111] Connection refused");
    let found = diagnose(Some("the upstream process exited"), None, &refused).unwrap();
    assert_eq!(found.cause, FailureCause::Network);
    assert!(found.summary.contains("refused"), "{}", found.summary);
    let node = diagnose(
        Some(HANDSHAKE_FAILED),
        None,
        &log("Error: connect ECONNREFUSED 127.0.0.1:5432"),
    )
    .unwrap();
    assert!(node.summary.contains("127.0.0.1:5432"), "{}", node.summary);

    let tls = log(
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)",
    );
    let found = diagnose(Some(HANDSHAKE_FAILED), None, &tls).unwrap();
    assert_eq!(found.cause, FailureCause::Network);
    assert!(found.summary.contains("certificate"), "{}", found.summary);

    // A remote upstream: only the gateway's error, rmcp's words.
    let remote = "the MCP handshake with https://mcp.acme.example/mcp failed: Transport \
                  [rmcp::transport::worker::WorkerTransport] error: client error: error \
                  sending request: dns error: failed to lookup address information: Name \
                  or service not known";
    let found = diagnose(Some(remote), None, &[]).unwrap();
    assert_eq!(found.cause, FailureCause::Network);
    assert!(found.summary.contains("DNS"), "{}", found.summary);
}

#[test]
fn a_handshake_timeout_and_an_exit_code_are_told_apart() {
    let timeout = UpstreamFault::HandshakeTimeout { secs: 30 };
    let words = timeout.to_string();
    let found = diagnose(Some(&words), Some(&timeout), &log("listening on :3000")).unwrap();
    assert_eq!(found.cause, FailureCause::HandshakeTimeout);
    let restarted = format!("{words}; it stopped 3 times in a row; restart it once fixed");
    let found = diagnose(Some(&restarted), Some(&timeout), &[]).unwrap();
    assert_eq!(
        found.cause,
        FailureCause::HandshakeTimeout,
        "the fault decides"
    );
    // Words that are not the fault's (written by a node that does not know faults, over
    // an earlier failure's) are read alone.
    let stale = diagnose(Some("it exited with code 3"), Some(&timeout), &[]).unwrap();
    assert_eq!(stale.cause, FailureCause::Exited, "{stale:?}");
    assert!(found.advice.contains("stdout"), "{}", found.advice);

    let exited = log("Traceback (most recent call last):
  File \"/srv/main.py\", line 12, in <module>
    raise ValueError(\"ACME_API_KEY is not set\")
ValueError: ACME_API_KEY is not set
subprocess exited with code 2");
    let found = diagnose(Some("the upstream process exited"), None, &exited).unwrap();
    assert_eq!(found.cause, FailureCause::Exited);
    assert_eq!(found.summary, "It exited with code 2.");
    assert_eq!(
        found.evidence.as_deref(),
        Some("ValueError: ACME_API_KEY is not set"),
        "the error it printed, not the exit line"
    );
    // Code 0 is no failure code; without one it still exited.
    let handshake = UpstreamFault::HandshakeFailed {
        error: "connection closed: initialize response".into(),
        code: None,
        signal: None,
    };
    let found = diagnose(
        Some(HANDSHAKE_FAILED),
        Some(&handshake),
        &log("exit code 0\nError: ACME_TOKEN missing"),
    )
    .unwrap();
    assert_eq!(found.cause, FailureCause::Exited);
    assert_eq!(found.summary, "It exited before it was ready.");
    assert_eq!(found.evidence.as_deref(), Some("Error: ACME_TOKEN missing"));
}

#[test]
fn no_last_error_no_diagnosis_and_the_unknown_says_so() {
    assert_eq!(
        diagnose(None, None, &log("Error: Cannot find module 'x'")),
        None
    );
    let found = diagnose(
        Some("the organization's account is not connected"),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(found.cause, FailureCause::Unrecognized);
    assert_eq!(
        found.evidence.as_deref(),
        Some("the organization's account is not connected")
    );
    // Evidence is printable and bounded.
    let long = format!("Error: {}\u{1b}[31m", "x".repeat(900));
    let found = diagnose(Some(HANDSHAKE_FAILED), None, &[long]).unwrap();
    let evidence = found.evidence.unwrap();
    assert!(evidence.chars().count() <= EVIDENCE_CHARS + 2, "{evidence}");
    assert!(!evidence.contains('\u{1b}'));
}

#[test]
fn an_exit_a_kill_and_a_missed_ping_are_matched_from_the_fault() {
    let coded = UpstreamFault::Exited {
        code: Some(3),
        signal: None,
    };
    let words = format!("{coded}; its last stderr line: Error: ACME_TOKEN missing");
    assert_eq!(
        words,
        "the upstream process exited (it exited with code 3); its last stderr line: Error: \
         ACME_TOKEN missing",
        "the words are today's"
    );
    // What Guidepost saw beats an exit code the program printed.
    let printed = log("Error: ACME_TOKEN missing\nsubprocess exited with code 2");
    let found = diagnose(Some(&words), Some(&coded), &printed).unwrap();
    assert_eq!(found.cause, FailureCause::Exited);
    assert_eq!(found.summary, "It exited with code 3.");
    assert_eq!(found.evidence.as_deref(), Some("Error: ACME_TOKEN missing"));

    let killed = UpstreamFault::Exited {
        code: None,
        signal: Some(9),
    };
    let found = diagnose(Some(&killed.to_string()), Some(&killed), &[]).unwrap();
    assert_eq!(found.cause, FailureCause::Exited);
    assert!(found.summary.contains("signal 9"), "{}", found.summary);
    assert!(found.summary.contains("memory limit"), "{}", found.summary);

    let in_handshake = UpstreamFault::HandshakeFailed {
        error: "connection closed: initialize response".into(),
        code: Some(1),
        signal: None,
    };
    let found = diagnose(Some(&in_handshake.to_string()), Some(&in_handshake), &[]).unwrap();
    assert_eq!(found.summary, "It exited with code 1.");

    for missed in [
        UpstreamFault::PingTimeout { millis: 2_500 },
        UpstreamFault::PingFailed {
            error: "connection closed".into(),
        },
    ] {
        let found = diagnose(Some(&missed.to_string()), Some(&missed), &[]).unwrap();
        assert_eq!(found.cause, FailureCause::Unresponsive, "{missed}");
    }
    assert_eq!(
        UpstreamFault::PingTimeout { millis: 2_500 }.to_string(),
        "no answer to ping within 2.5 s"
    );

    // The same words without the fault are not parsed for Guidepost's own sentences.
    let found = diagnose(Some("the upstream process exited"), None, &[]).unwrap();
    assert_eq!(found.cause, FailureCause::Unrecognized);
}

#[test]
fn an_idle_stop_is_no_failure() {
    let idle = UpstreamFault::StoppedIdle;
    assert_eq!(
        diagnose(Some(&idle.to_string()), Some(&idle), &log("Error: old")),
        None
    );
}

#[test]
fn a_limit_passed_is_told_with_the_flag_that_sets_it() {
    let over = UpstreamFault::OverMaximum {
        asked: 4096,
        max: 1024,
        what: "MiB of memory".into(),
        flag: "--upstream-max-memory-mb".into(),
    };
    assert_eq!(
        over.to_string(),
        "its entry asks for 4096 MiB of memory; this platform allows at most 1024 \
         (--upstream-max-memory-mb)"
    );
    // The fault decides, whatever the log says below it.
    let found = diagnose(
        Some(&over.to_string()),
        Some(&over),
        &log("Error: ECONNREFUSED"),
    )
    .unwrap();
    assert_eq!(found.cause, FailureCause::Limits);
    assert!(
        found.advice.contains("--upstream-max-memory-mb"),
        "{}",
        found.advice
    );
    let cap = UpstreamFault::CapReached {
        cap: 8,
        what: "processes of one organization".into(),
        flag: "--org-max-processes".into(),
    };
    let found = diagnose(Some(&cap.to_string()), Some(&cap), &[]).unwrap();
    assert_eq!(found.cause, FailureCause::Limits);
    assert!(found.summary.contains("cap"), "{}", found.summary);
}
