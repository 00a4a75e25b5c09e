//! The email one-time code: the way a person proves their email on `platform_oauth`
//! servers (`email` → `code` → `consent`). Guessing is bounded three ways: a few guesses
//! per code before the session locks, a few codes per session, and a few codes per
//! mailbox and hour over all sessions of the organization. Every send counts against the
//! mailbox it went to (case and `+tag` folded), whatever the session's email becomes
//! later, against the address that asked for it, so that one client cannot mail without
//! bound, and against the organization's hourly total (`--sign-in-codes-per-hour`), so
//! that many clients cannot either. Guesses are written compare-and-set, so concurrent
//! ones are each counted.
//!
//! On `custom_oauth` servers only the organization's provider proves who someone is, and
//! no code is sent or checked.

use guidepost_domain::*;
use rand::RngExt;

use super::crypto::constant_time_eq;
use super::logins::{Unopened, person, reread, save};
use crate::{CoreError, Platform};

/// Digits in a one-time code.
pub const CODE_DIGITS: usize = 8;
/// How long a mailed code is good for.
const CODE_TTL_SECS: i64 = 10 * 60;
/// Wrong codes before the login session locks.
const MAX_ATTEMPTS: i64 = 5;
/// Codes one login session may have mailed.
const MAX_CODES_PER_SESSION: i64 = 3;
/// Codes per hour and organization to one mailbox.
const PER_MAILBOX: i64 = 10;
/// Codes per hour and organization asked from one client address.
const PER_CLIENT_IP: i64 = 30;
/// Guesses that lost their write to a concurrent one are retried this often.
const WRITE_TRIES: usize = 5;

/// Whether `server` signs people in with email codes at all.
pub fn offered(server: &McpServer) -> bool {
    server.auth_mode != AuthMode::CustomOauth
}

/// A code to mail: the only time it exists in plain text.
#[derive(Debug)]
pub struct CodeToMail {
    pub session: LoginSession,
    pub email: Email,
    pub code: String,
    pub valid_minutes: i64,
}

/// What asking for a code did.
#[derive(Debug)]
pub enum Sending {
    Mail(Box<CodeToMail>),
    /// The server signs people in through its organization's provider only.
    NotOffered,
    /// The session is past the email step.
    NotAwaited,
    InvalidEmail(ValidationError),
    TooManyForSignIn,
    /// The mailbox was sent its share of codes this hour.
    TooManyForAddress,
    /// The client's network address asked for its share of codes this hour.
    TooManyFromClient,
    /// The organization's servers mailed as many codes as they may this hour.
    TooManyForOrganization,
    /// Another write came first.
    Conflict,
}

/// Moves the session to `code` with a fresh code for `email` (as typed), within the
/// limits; `client_ip` is the address that asked.
pub async fn send(
    platform: &Platform,
    server: &McpServer,
    session: &LoginSession,
    email: &str,
    client_ip: Option<std::net::IpAddr>,
) -> Result<Sending, CoreError> {
    if !offered(server) {
        return Ok(Sending::NotOffered);
    }
    let at_email_step = matches!(
        session.stage,
        LoginStage::Email | LoginStage::Code | LoginStage::Upstream
    );
    if !at_email_step {
        return Ok(Sending::NotAwaited);
    }
    let email = match Email::parse(email) {
        Ok(email) => email,
        Err(error) => return Ok(Sending::InvalidEmail(error)),
    };
    if session.codes_sent >= MAX_CODES_PER_SESSION {
        return Ok(Sending::TooManyForSignIn);
    }
    let now = Timestamp::now();
    let counted = CodeSend {
        org_id: session.org_id.clone(),
        address_key: email.mailbox_key(),
        client_ip: client_ip.map(|ip| ip.to_string()),
        at: now,
    };
    let limits = CodeSendLimits {
        per_mailbox: PER_MAILBOX,
        per_client_ip: PER_CLIENT_IP,
        per_organization: i64::from(platform.config.sign_in_codes_per_hour),
    };
    let sends = platform.store.record_code_send(&counted, limits).await?;
    if !sends.recorded {
        let limit = sends
            .limit_reached(limits)
            .unwrap_or(CodeSendLimit::Organization);
        metrics::counter!("guidepost_oauth_code_sends_refused_total", "limit" => limit.as_str())
            .increment(1);
        return Ok(match limit {
            CodeSendLimit::Mailbox => Sending::TooManyForAddress,
            CodeSendLimit::ClientIp => Sending::TooManyFromClient,
            CodeSendLimit::Organization => Sending::TooManyForOrganization,
        });
    }
    let code = one_time_code();
    let mut next = session.clone();
    next.stage = LoginStage::Code;
    next.upstream_salt = None;
    next.email = Some(email.clone());
    next.code_hash = Some(code_hash(&session.id, &code));
    next.code_expires_at = Some(now.plus_seconds(CODE_TTL_SECS));
    next.codes_sent += 1;
    let Some(session) = save(platform, &next).await? else {
        return Ok(Sending::Conflict);
    };
    Ok(Sending::Mail(Box::new(CodeToMail {
        session,
        email,
        code,
        valid_minutes: CODE_TTL_SECS / 60,
    })))
}

/// What a guess did; each carries the session as it is now.
#[derive(Debug)]
pub enum Checked {
    /// Right: the person is known, on to `consent`.
    Accepted(LoginSession),
    /// Wrong, and it was the last guess allowed: the session is locked.
    Locked(LoginSession),
    /// The code expired (the guess still counts).
    Expired(LoginSession),
    Wrong {
        session: LoginSession,
        attempts_left: i64,
    },
    /// The session is not waiting for a code (it may be locked).
    NotAwaited(LoginSession),
    NotOffered,
    /// Concurrent guesses kept winning the write.
    Conflict,
    /// The session went away while the guess was retried.
    Unopened(Unopened),
}

/// Checks a guess of the session's code (people type spaces and dashes: only digits
/// count). Every guess is counted, concurrent ones too.
pub async fn check(
    platform: &Platform,
    server: &McpServer,
    mut session: LoginSession,
    typed: &str,
) -> Result<Checked, CoreError> {
    if !offered(server) {
        return Ok(Checked::NotOffered);
    }
    let typed: String = typed.chars().filter(char::is_ascii_digit).collect();
    for _ in 0..WRITE_TRIES {
        if session.stage != LoginStage::Code {
            return Ok(Checked::NotAwaited(session));
        }
        let now = Timestamp::now();
        let expired = session.code_expires_at.is_none_or(|t| t <= now);
        let hash = code_hash(&session.id, &typed);
        let right = !expired
            && session.code_attempts < MAX_ATTEMPTS
            && session
                .code_hash
                .as_deref()
                .is_some_and(|h| constant_time_eq(h.as_bytes(), hash.as_bytes()));
        let mut next = session.clone();
        next.code_attempts += 1;
        if right {
            let email = session.email.as_ref().expect("a code was sent to an email");
            next.end_user_id = Some(person(platform, &session.org_id, email).await?.id);
            next.stage = LoginStage::Consent;
            next.code_hash = None;
        } else if next.code_attempts >= MAX_ATTEMPTS {
            next.stage = LoginStage::Locked;
            next.code_hash = None;
        }
        if let Some(saved) = save(platform, &next).await? {
            return Ok(verdict(saved, expired));
        }
        // Someone else wrote first (another guess): read again and count this one too.
        session = match reread(platform, &session).await? {
            Ok(again) => again,
            Err(unopened) => return Ok(Checked::Unopened(unopened)),
        };
    }
    Ok(Checked::Conflict)
}

fn verdict(session: LoginSession, expired: bool) -> Checked {
    match session.stage {
        LoginStage::Consent => Checked::Accepted(session),
        LoginStage::Locked => {
            metrics::counter!("guidepost_oauth_logins_locked_total").increment(1);
            Checked::Locked(session)
        }
        _ if expired => Checked::Expired(session),
        _ => Checked::Wrong {
            attempts_left: MAX_ATTEMPTS - session.code_attempts,
            session,
        },
    }
}

/// A fresh one-time code of `CODE_DIGITS` digits.
pub(crate) fn one_time_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_DIGITS)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The stored form of a one-time code: salted with its login session, so that equal codes
/// of two sessions do not hash alike.
fn code_hash(session: &LoginSessionId, code: &str) -> String {
    hash_secret(&format!("{session}:{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_and_hashes_are_salted() {
        let code = one_time_code();
        assert_eq!(code.len(), CODE_DIGITS);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let a = Id::from_trusted("ls_a".into());
        let b = Id::from_trusted("ls_b".into());
        assert_ne!(code_hash(&a, &code), code_hash(&b, &code));
    }
}
