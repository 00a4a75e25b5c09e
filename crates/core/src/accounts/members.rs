//! The people who run an organization from the dashboard: members and their
//! roles, sign-in by an emailed one-time code, and dashboard sessions.
//!
//! A code is 8 digits, lasts 10 minutes, takes 5 guesses (each counted before it is
//! compared) and is stored as a hash salted with the email; at most 5 codes an hour go to
//! one address; nothing the sign-in answers tells whether an address is a member's. An
//! invitation is mailed at most 5 times an hour to one mailbox from one organization, so
//! that inviting and removing again cannot mail without bound. A session token is random,
//! shown once (in a cookie) and stored as a hash. Who may do what is the [`Caller`]'s to say.

use std::time::Duration;

use guidepost_domain::*;

use crate::accounts::authorization::codes::one_time_code;
use crate::accounts::authorization::crypto::constant_time_eq;
use crate::mail::Mail;
use crate::{Caller, CoreError, Permission, Platform, audit};

const CODE_TTL_SECS: i64 = 10 * 60;
/// Guesses at one code, the right one included.
const MAX_CODE_GUESSES: i64 = 5;
/// A second code for one email is not sent sooner than this…
const RESEND_AFTER_SECS: i64 = 20;
/// …and at most this many in an hour, so that guesses stay few whatever a stranger asks.
const MAX_SENDS_PER_HOUR: i64 = 5;
const HOUR_SECS: i64 = 60 * 60;
/// Invitation mails an hour to one mailbox from one organization (as many as sign-in
/// codes to one address).
const MAX_INVITATIONS_PER_HOUR: i64 = MAX_SENDS_PER_HOUR;
/// What every refused code hears, so that the answer does not tell whether the address
/// belongs to a member.
const CODE_REFUSED: &str = "That code is not right, or it has expired or been used. Check the \
     newest mail, or ask for a new code.";
/// A session ends after this long without a request…
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// …and after this long whatever happens.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Activity is written at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

/// A signed-in member, as every dashboard page sees them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    pub session: DashboardSession,
    /// What the member may do, for the services their pages call.
    pub caller: Caller,
}

impl SignedIn {
    fn new(member: Member, session: DashboardSession) -> Self {
        let caller = Caller::member(&member);
        Self {
            member,
            session,
            caller,
        }
    }
}

/// Adds a member without sending an invitation (the CLI's first owner).
pub async fn add(
    platform: &Platform,
    caller: &Caller,
    email: &Email,
    role: Role,
) -> Result<Member, CoreError> {
    caller.require(Permission::Administer)?;
    let member = platform
        .store
        .create_member(caller.org(), email, role)
        .await?;
    audit_member(platform, caller, AuditAction::MemberAdded, &member).await?;
    Ok(member)
}

async fn audit_member(
    platform: &Platform,
    by: &Caller,
    action: AuditAction,
    member: &Member,
) -> Result<(), CoreError> {
    let object = audit::Object {
        kind: "member",
        id: member.id.as_str(),
        name: member.email.as_str(),
    };
    let detail = serde_json::json!({"role": member.role.as_str()});
    audit::record(platform, by, action, object, detail).await
}

pub async fn list(platform: &Platform, caller: &Caller) -> Result<Vec<Member>, CoreError> {
    Ok(platform.store.list_members(caller.org()).await?)
}

/// A new member, and whether their invitation mail went out.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub member: Member,
    pub mail: InvitationMail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationMail {
    Sent,
    /// Not sent: the mailbox had its invitations for the hour from this organization.
    HeldBack,
    /// Not sent: the mail server refused it.
    Failed,
}

/// An owner invites someone by email: they become a member at once and are told how to
/// sign in at `sign_in_url`, unless the mailbox had `MAX_INVITATIONS_PER_HOUR` from this
/// organization within the hour (the member is added all the same, and can sign in).
pub async fn invite(
    platform: &Platform,
    mail: &dyn Mail,
    by: &Caller,
    email: &str,
    role: Role,
    sign_in_url: &str,
) -> Result<Invitation, CoreError> {
    by.require(Permission::Administer)?;
    let email = Email::parse(email)?;
    let member = platform.store.create_member(by.org(), &email, role).await?;
    audit_member(platform, by, AuditAction::MemberInvited, &member).await?;
    let now = Timestamp::now();
    let may_mail = platform
        .store
        .record_invitation_send(
            by.org(),
            &email.mailbox_key(),
            now,
            now.plus_seconds(HOUR_SECS),
            MAX_INVITATIONS_PER_HOUR,
        )
        .await?;
    if !may_mail {
        tracing::info!("an invitation mail was held back by the sending limit");
        return Ok(Invitation {
            member,
            mail: InvitationMail::HeldBack,
        });
    }
    let org = platform.store.get_organization(by.org()).await?;
    let body = format!(
        "{inviter} invited you to {org} on Guidepost as {role}.\n\n\
         Sign in with this address at {sign_in_url}\n\n\
         We will email you a one-time code; no password is needed.\n",
        inviter = by.name(),
        org = org.name,
        role = role.as_str(),
    );
    let sent = mail
        .send(&email, &format!("You are invited to {}", org.name), &body)
        .await;
    let mail = match sent {
        Ok(()) => InvitationMail::Sent,
        Err(error) => {
            tracing::warn!(%error, "the invitation was not sent; the member can still sign in");
            InvitationMail::Failed
        }
    };
    Ok(Invitation { member, mail })
}

/// An owner changes a member's role; the last owner stays an owner (the store decides
/// that under a lock).
pub async fn change_role(
    platform: &Platform,
    by: &Caller,
    id: &MemberId,
    role: Role,
) -> Result<Member, CoreError> {
    by.require(Permission::Administer)?;
    let member = platform.store.set_member_role(by.org(), id, role).await?;
    audit_member(platform, by, AuditAction::MemberRoleChanged, &member).await?;
    Ok(member)
}

/// An owner removes a member (their sessions end with them); the last owner stays.
pub async fn remove(platform: &Platform, by: &Caller, id: &MemberId) -> Result<(), CoreError> {
    by.require(Permission::Administer)?;
    let member = platform.store.get_member(by.org(), id).await?;
    platform.store.delete_member(by.org(), id).await?;
    audit_member(platform, by, AuditAction::MemberRemoved, &member).await
}

/// Emails a sign-in code to `email` if it belongs to a member. The answer is the same
/// either way (and when a code is held back by the sending limits, or the mail fails:
/// those are logged), so the form does not reveal who is a member.
pub async fn start_sign_in(
    platform: &Platform,
    mail: &dyn Mail,
    email: &str,
) -> Result<(), CoreError> {
    let email = Email::parse(email)?;
    let memberships = platform.store.memberships_of_email(&email).await?;
    let Some(first) = memberships.first() else {
        return Ok(());
    };
    let now = Timestamp::now();
    let pending = platform.store.get_sign_in_code(&email).await?;
    let Some((sends, first_sent_at)) = sending_window(pending.as_ref(), now) else {
        tracing::info!("a dashboard sign-in code was held back by the sending limits");
        return Ok(());
    };
    let code = one_time_code();
    let replacing = pending.as_ref().map(|pending| pending.created_at);
    let put = platform
        .store
        .put_sign_in_code(
            &MemberSignInCode {
                email: email.clone(),
                code_hash: code_hash(&email, &code),
                failed_attempts: 0,
                created_at: now,
                expires_at: now.plus_seconds(CODE_TTL_SECS),
                sends,
                first_sent_at,
            },
            replacing,
        )
        .await?;
    if !put {
        // Another send read the same pending code and went first: it is the one mailed.
        tracing::info!("a dashboard sign-in code was held back: another send came first");
        return Ok(());
    }
    let body = format!(
        "Your code to sign in to the Guidepost dashboard ({org}) is:\n\n    {code}\n\n\
         It expires in {minutes} minutes and works once. If you did not ask for it, \
         ignore this message.\n",
        org = first.org_name,
        minutes = CODE_TTL_SECS / 60,
    );
    let subject = format!("{code} is your Guidepost sign-in code");
    if let Err(error) = mail.send(&email, &subject, &body).await {
        tracing::warn!(%error, "a dashboard sign-in code could not be sent");
    }
    Ok(())
}

/// Whether another code may go out now, and the sending window it counts in:
/// `(sends including this one, window start)`; `None` when the limits hold it back.
fn sending_window(pending: Option<&MemberSignInCode>, now: Timestamp) -> Option<(i64, Timestamp)> {
    let Some(pending) = pending else {
        return Some((1, now));
    };
    if pending.created_at.plus_seconds(RESEND_AFTER_SECS) > now {
        return None;
    }
    if pending.first_sent_at.plus_seconds(HOUR_SECS) <= now {
        return Some((1, now));
    }
    (pending.sends < MAX_SENDS_PER_HOUR).then_some((pending.sends + 1, pending.first_sent_at))
}

/// Checks a code and opens a session in the email's first organization. Returns the
/// session's token (for the cookie) with the session. Every guess is counted before it is
/// compared; a refused code hears the same answer whatever the reason.
pub async fn finish_sign_in(
    platform: &Platform,
    email: &str,
    typed: &str,
) -> Result<(String, SignedIn), CoreError> {
    let refused = || CoreError::Invalid(ValidationError::new("code", CODE_REFUSED));
    let email = Email::parse(email)?;
    let typed: String = typed.chars().filter(char::is_ascii_digit).collect();
    let hash = code_hash(&email, &typed);
    let now = Timestamp::now();
    let Some(pending) = platform
        .store
        .claim_sign_in_guess(&email, MAX_CODE_GUESSES, now)
        .await?
    else {
        return Err(refused());
    };
    if !constant_time_eq(pending.code_hash.as_bytes(), hash.as_bytes())
        || !platform.store.take_sign_in_code(&email, &hash).await?
    {
        return Err(refused());
    }
    let memberships = platform.store.memberships_of_email(&email).await?;
    let member = memberships.into_iter().next().ok_or_else(refused)?.member;
    open_session(platform, member).await
}

async fn open_session(
    platform: &Platform,
    member: Member,
) -> Result<(String, SignedIn), CoreError> {
    let token = random_token("gpd_");
    let now = Timestamp::now();
    let session = DashboardSession {
        token_hash: hash_secret(&token),
        member_id: member.id.clone(),
        org_id: member.org_id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus(SESSION_LIFETIME),
    };
    platform.store.create_dashboard_session(&session).await?;
    Ok((token, SignedIn::new(member, session)))
}

/// The member behind a session token, if the session is live (not idle too long, not
/// past its lifetime).
pub async fn signed_in(platform: &Platform, token: &str) -> Result<Option<SignedIn>, CoreError> {
    let now = Timestamp::now();
    let hash = hash_secret(token);
    let Some((session, member)) = platform.store.find_dashboard_session(&hash, now).await? else {
        return Ok(None);
    };
    if session.last_seen_at.plus(SESSION_IDLE) <= now {
        platform.store.delete_dashboard_session(&hash).await?;
        return Ok(None);
    }
    if session.last_seen_at.plus_seconds(TOUCH_EVERY_SECS) <= now {
        platform.store.touch_dashboard_session(&hash, now).await?;
    }
    Ok(Some(SignedIn::new(member, session)))
}

pub async fn sign_out(platform: &Platform, token: &str) -> Result<(), CoreError> {
    Ok(platform
        .store
        .delete_dashboard_session(&hash_secret(token))
        .await?)
}

/// The organizations the signed-in person belongs to (same email), for the switcher.
pub async fn memberships(
    platform: &Platform,
    signed_in: &SignedIn,
) -> Result<Vec<Membership>, CoreError> {
    Ok(platform
        .store
        .memberships_of_email(&signed_in.member.email)
        .await?)
}

/// Moves the session to another of the same person's memberships.
pub async fn switch_organization(
    platform: &Platform,
    signed_in: &SignedIn,
    to: &OrgId,
) -> Result<Member, CoreError> {
    let target = memberships(platform, signed_in)
        .await?
        .into_iter()
        .find(|m| m.member.org_id == *to)
        .ok_or(CoreError::NotFound)?
        .member;
    platform
        .store
        .switch_dashboard_session(&signed_in.session.token_hash, &target)
        .await?;
    Ok(target)
}

/// The stored form of a code: salted with the email, so equal codes do not hash alike.
fn code_hash(email: &Email, code: &str) -> String {
    hash_secret(&format!("member-sign-in:{}:{code}", email.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(sends: i64, first: i64, last: i64) -> MemberSignInCode {
        MemberSignInCode {
            email: Email::parse("ada@acme.example").unwrap(),
            code_hash: String::new(),
            failed_attempts: 0,
            created_at: Timestamp::from_micros(last * 1_000_000),
            expires_at: Timestamp::from_micros((last + CODE_TTL_SECS) * 1_000_000),
            sends,
            first_sent_at: Timestamp::from_micros(first * 1_000_000),
        }
    }

    #[test]
    fn codes_go_out_at_most_five_an_hour_and_not_twice_in_twenty_seconds() {
        let at = |secs: i64| Timestamp::from_micros(secs * 1_000_000);
        assert_eq!(sending_window(None, at(100)), Some((1, at(100))));
        assert_eq!(sending_window(Some(&sent(1, 100, 100)), at(110)), None);
        assert_eq!(
            sending_window(Some(&sent(1, 100, 100)), at(120)),
            Some((2, at(100)))
        );
        assert_eq!(
            sending_window(Some(&sent(4, 100, 1000)), at(1100)),
            Some((5, at(100)))
        );
        assert_eq!(sending_window(Some(&sent(5, 100, 1000)), at(1100)), None);
        assert_eq!(
            sending_window(Some(&sent(5, 100, 1000)), at(100 + HOUR_SECS)),
            Some((1, at(100 + HOUR_SECS)))
        );
    }
}
