//! The people who run an organization from the dashboard (SPEC §12): members and their
//! roles, sign-in by an emailed one-time code, and dashboard sessions.
//!
//! A code is 8 digits, lasts 10 minutes, takes 5 guesses and is stored as a hash salted
//! with the email; a session token is random, shown once (in a cookie) and stored as a
//! hash. Who may do what is decided here: [`require_editor`] and [`require_owner`].

use std::time::Duration;

use guidepost_domain::*;

use crate::authorization::codes::one_time_code;
use crate::mail::Mail;
use crate::{CoreError, Platform};

const CODE_TTL_SECS: i64 = 10 * 60;
const MAX_CODE_ATTEMPTS: i64 = 5;
/// A second code for one email is not sent sooner than this.
const RESEND_AFTER_SECS: i64 = 20;
/// A session ends after this long without a request…
pub const SESSION_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// …and after this long whatever happens.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Activity is written at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

/// A signed-in member, as every dashboard page sees them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    pub session: DashboardSession,
}

/// Refuses a viewer: changing the organization's objects takes an editor or owner.
pub fn require_editor(member: &Member) -> Result<(), CoreError> {
    if member.role.can_edit() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "Viewers can look but not change anything; ask an owner for the editor role.".into(),
        ))
    }
}

/// Refuses anyone but an owner: members and API keys are the owners'.
pub fn require_owner(member: &Member) -> Result<(), CoreError> {
    if member.role.can_administer() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "Only an owner can manage members and API keys.".into(),
        ))
    }
}

/// Adds a member without asking who does it: the CLI's first owner.
pub async fn add(
    platform: &Platform,
    org: &OrgId,
    email: &Email,
    role: Role,
) -> Result<Member, CoreError> {
    Ok(platform.store.create_member(org, email, role).await?)
}

pub async fn list(platform: &Platform, org: &OrgId) -> Result<Vec<Member>, CoreError> {
    Ok(platform.store.list_members(org).await?)
}

/// An owner invites someone by email: they become a member at once and are told how to
/// sign in at `sign_in_url`.
pub async fn invite(
    platform: &Platform,
    mail: &dyn Mail,
    by: &Member,
    email: &str,
    role: Role,
    sign_in_url: &str,
) -> Result<Member, CoreError> {
    require_owner(by)?;
    let email = Email::parse(email)?;
    let member = platform
        .store
        .create_member(&by.org_id, &email, role)
        .await?;
    let org = platform.store.get_organization(&by.org_id).await?;
    let body = format!(
        "{inviter} invited you to {org} on Guidepost as {role}.\n\n\
         Sign in with this address at {sign_in_url}\n\n\
         We will email you a one-time code; no password is needed.\n",
        inviter = by.email.as_str(),
        org = org.name,
        role = role.as_str(),
    );
    if let Err(error) = mail
        .send(&email, &format!("You are invited to {}", org.name), &body)
        .await
    {
        tracing::warn!(%error, "the invitation was not sent; the member can still sign in");
    }
    Ok(member)
}

/// An owner changes a member's role; the last owner stays an owner.
pub async fn change_role(
    platform: &Platform,
    by: &Member,
    id: &MemberId,
    role: Role,
) -> Result<Member, CoreError> {
    require_owner(by)?;
    let target = platform.store.get_member(&by.org_id, id).await?;
    if target.role == Role::Owner && role != Role::Owner {
        keep_an_owner(platform, &by.org_id).await?;
    }
    Ok(platform.store.set_member_role(&by.org_id, id, role).await?)
}

/// An owner removes a member (their sessions end with them); the last owner stays.
pub async fn remove(platform: &Platform, by: &Member, id: &MemberId) -> Result<(), CoreError> {
    require_owner(by)?;
    let target = platform.store.get_member(&by.org_id, id).await?;
    if target.role == Role::Owner {
        keep_an_owner(platform, &by.org_id).await?;
    }
    Ok(platform.store.delete_member(&by.org_id, id).await?)
}

async fn keep_an_owner(platform: &Platform, org: &OrgId) -> Result<(), CoreError> {
    let owners = platform
        .store
        .list_members(org)
        .await?
        .iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    if owners <= 1 {
        return Err(CoreError::Conflict(
            "An organization keeps at least one owner: make someone else owner first.".into(),
        ));
    }
    Ok(())
}

/// Emails a sign-in code to `email` if it belongs to a member. Whether it does is not
/// told (the page reads the same either way), so the form does not reveal who is a member.
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
    if let Some(pending) = platform.store.get_sign_in_code(&email).await?
        && pending.created_at.plus_seconds(RESEND_AFTER_SECS) > now
    {
        return Err(CoreError::Conflict(format!(
            "A code was sent less than {RESEND_AFTER_SECS} seconds ago: check your mail, \
             or wait a moment and ask again."
        )));
    }
    let code = one_time_code();
    platform
        .store
        .put_sign_in_code(&MemberSignInCode {
            email: email.clone(),
            code_hash: code_hash(&email, &code),
            failed_attempts: 0,
            created_at: now,
            expires_at: now.plus_seconds(CODE_TTL_SECS),
        })
        .await?;
    let body = format!(
        "Your code to sign in to the Guidepost dashboard ({org}) is:\n\n    {code}\n\n\
         It expires in {minutes} minutes and works once. If you did not ask for it, \
         ignore this message.\n",
        org = first.org_name,
        minutes = CODE_TTL_SECS / 60,
    );
    mail.send(
        &email,
        &format!("{code} is your Guidepost sign-in code"),
        &body,
    )
    .await
    .map_err(|error| {
        tracing::warn!(%error, "a dashboard sign-in code could not be sent");
        CoreError::Conflict("The code could not be sent; try again in a minute.".into())
    })
}

/// Checks a code and opens a session in the email's first organization. Returns the
/// session's token (for the cookie) with the session.
pub async fn finish_sign_in(
    platform: &Platform,
    email: &str,
    typed: &str,
) -> Result<(String, SignedIn), CoreError> {
    let email = Email::parse(email)?;
    let typed: String = typed.chars().filter(char::is_ascii_digit).collect();
    let wrong = |message: String| CoreError::Invalid(ValidationError::new("code", message));
    let now = Timestamp::now();
    let Some(pending) = platform.store.get_sign_in_code(&email).await? else {
        return Err(wrong(
            "No code is waiting for this address: ask for a new one.".into(),
        ));
    };
    if pending.expires_at <= now || pending.failed_attempts >= MAX_CODE_ATTEMPTS {
        return Err(wrong(
            "This code has expired or is locked: ask for a new one.".into(),
        ));
    }
    let hash = code_hash(&email, &typed);
    if !platform.store.take_sign_in_code(&email, &hash).await? {
        let attempts = platform.store.count_sign_in_failure(&email).await?;
        let left = (MAX_CODE_ATTEMPTS - attempts).max(0);
        return Err(wrong(if left == 0 {
            "That code is not right, and it is now locked: ask for a new one.".into()
        } else {
            format!("That code is not right: {left} attempts left.")
        }));
    }
    let memberships = platform.store.memberships_of_email(&email).await?;
    let member = memberships
        .into_iter()
        .next()
        .ok_or(CoreError::NotFound)?
        .member;
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
    Ok((token, SignedIn { member, session }))
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
    Ok(Some(SignedIn { member, session }))
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
