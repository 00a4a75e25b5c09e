//! Members (invite by email, change role, remove) and the organization's API keys.
//! Only owners change either; everyone may read the member list.

use askama::Template;
use axum::extract::{Query, State};
use guidepost_core::accounts::organizations;
use guidepost_core::{Permission, accounts::members};
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{Errors, FormError, FormSpec};
use crate::page::IdPath;
use crate::page::{self, Chrome, Done, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};
use crate::shown_once;

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    me: String,
    members: Vec<Member>,
    roles: [Role; 3],
    /// The invitation form as posted, when it was refused.
    invite: InviteForm,
    errors: Errors,
}

impl MembersPage {
    /// The id of a member's role select, which a refused change links to.
    fn role_input(&self, member: &Member) -> String {
        role_input(&member.id)
    }
}

fn role_input(id: &MemberId) -> String {
    format!("role-{id}")
}

/// The invitation form's inputs are `invite-email` and `invite-role`.
const INVITE_FORM: FormSpec = FormSpec {
    prefix: "invite",
    conflict_field: "email",
};

async fn members_page(
    app: &Dashboard,
    signed: &Signed,
    done: Option<&str>,
    invite: InviteForm,
    errors: Errors,
) -> PageResult {
    let chrome = Chrome::new(app, signed, "Members", Section::Members, done).await?;
    let members = members::list(&app.platform, signed.caller()).await?;
    let status = errors.status();
    Ok(page::render_with(
        status,
        &MembersPage {
            chrome,
            me: signed.member.id.to_string(),
            members,
            roles: Role::ALL,
            invite,
            errors,
        },
    ))
}

pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let fresh = InviteForm {
        email: String::new(),
        role: "editor".into(),
    };
    members_page(&app, &signed, done.done.as_deref(), fresh, Errors::none()).await
}

/// A refused change to one member (the last owner stays an owner), said in their row.
async fn refused_for_member(
    app: &Dashboard,
    signed: &Signed,
    id: &MemberId,
    refused: PageError,
) -> PageResult {
    let spec = FormSpec {
        prefix: "role",
        conflict_field: "member",
    };
    let mut error = FormError::of_page(refused, spec).or_else(|other| match other {
        PageError::Conflict(message) => Ok(FormError::new(
            spec,
            "member",
            message,
            http::StatusCode::CONFLICT,
        )),
        other => Err(other),
    })?;
    let listed = members::list(&app.platform, signed.caller()).await?;
    let email = listed
        .iter()
        .find(|m| m.id == *id)
        .map_or_else(String::new, |m| m.email.as_str().to_owned());
    error.anchor = role_input(id);
    error.label = format!("The role of {email}");
    let fresh = InviteForm {
        email: String::new(),
        role: "editor".into(),
    };
    members_page(app, signed, None, fresh, error.into()).await
}

fn role(text: &str) -> Result<Role, PageError> {
    Role::parse(text).ok_or_else(|| PageError::Invalid {
        field: "role".into(),
        message: "choose owner, editor or viewer".into(),
    })
}

#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub(crate) async fn invite(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<InviteForm>,
) -> PageResult {
    let invitation = match try_invite(&app, &signed, &form).await {
        Ok(invitation) => invitation,
        Err(refused) => {
            let errors = FormError::of_page(refused, INVITE_FORM).or_else(|other| match other {
                PageError::Conflict(message) => Ok(FormError::new(
                    INVITE_FORM,
                    "email",
                    message,
                    http::StatusCode::CONFLICT,
                )),
                other => Err(other),
            })?;
            return members_page(&app, &signed, None, form, errors.into()).await;
        }
    };
    let notice = match invitation.mail {
        members::InvitationMail::Sent => Notice::Invited,
        members::InvitationMail::HeldBack | members::InvitationMail::Failed => {
            Notice::InvitedUnmailed
        }
    };
    Ok(page::done("/app/members", notice))
}

async fn try_invite(
    app: &Dashboard,
    signed: &Signed,
    form: &InviteForm,
) -> Result<members::Invitation, PageError> {
    let sign_in_url = format!("{}/app/sign-in", own_origin(app));
    Ok(members::invite(
        &app.platform,
        app.mail.as_ref(),
        signed.caller(),
        form.email.trim(),
        role(&form.role)?,
        &sign_in_url,
    )
    .await?)
}

/// The platform's own origin (never the request's Host, which anyone can set).
fn own_origin(app: &Dashboard) -> String {
    let config = &app.platform.config;
    config.origin_for_host(&config.base_domain)
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    role: String,
}

pub(crate) async fn change_role(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<MemberId>,
    SignedForm { signed, form }: SignedForm<RoleForm>,
) -> PageResult {
    let changed = match role(&form.role) {
        Ok(role) => members::change_role(&app.platform, signed.caller(), &id, role)
            .await
            .map_err(PageError::from),
        Err(refused) => Err(refused),
    };
    match changed {
        Ok(_) => Ok(page::done("/app/members", Notice::Saved)),
        Err(refused) => refused_for_member(&app, &signed, &id, refused).await,
    }
}

pub(crate) async fn remove(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<MemberId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let listed = members::list(&app.platform, signed.caller()).await?;
        let member = listed
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(PageError::NotFound)?;
        let question = Question {
            title: "Remove this member?".into(),
            message: format!(
                "{} loses access to this organization at once: their sessions end. \
                 Inviting them again gives it back.",
                member.email.as_str()
            ),
            action: format!("/app/members/{id}/remove"),
            button: "Remove member".into(),
            back: "/app/members".into(),
            section: Section::Members,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Administer, question).await;
    }
    match members::remove(&app.platform, signed.caller(), &id).await {
        Ok(()) => Ok(page::done("/app/members", Notice::Deleted)),
        Err(refused) => refused_for_member(&app, &signed, &id, refused.into()).await,
    }
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct ApiKeysPage {
    chrome: Chrome,
    keys: Vec<ApiKey>,
    /// A key just created: shown this once.
    created: Option<String>,
    /// The new-key form's name as posted, when it was refused.
    name: String,
    errors: Errors,
    /// The scopes a new key may be given besides `read` (which every key has), with
    /// whether each is ticked at first (those of a key made without a choice).
    choices: Vec<ScopeChoice>,
}

struct ScopeChoice {
    name: &'static str,
    what: &'static str,
    ticked: bool,
}

/// The new-key form's inputs are `key-name` and `scope-…`.
const KEY_FORM: FormSpec = FormSpec {
    prefix: "key",
    conflict_field: "name",
};

/// The scopes the signed-in member may give a new key, besides `read`, ticked as
/// `ticked` has them (the defaults for a new key, or what was posted).
fn scope_choices(signed: &Signed, default: ApiKeyScopes) -> Vec<ScopeChoice> {
    ApiKeyScope::ALL
        .iter()
        .copied()
        .filter(|scope| *scope != ApiKeyScope::Read && signed.caller().may_grant(*scope))
        .map(|scope| ScopeChoice {
            name: scope.as_str(),
            what: match scope {
                ApiKeyScope::Read => "read everything",
                ApiKeyScope::Write => "change servers, walkthroughs, support and webhooks",
                ApiKeyScope::Gateway => {
                    "install, attach and review upstream servers and their tools"
                }
                ApiKeyScope::Admin => {
                    "manage API keys and the organization's settings, see tracking ids"
                }
            },
            ticked: default.contains(scope),
        })
        .collect()
}

/// What the keys page shows besides the list.
struct KeysView {
    created: Option<String>,
    name: String,
    scopes: ApiKeyScopes,
    errors: Errors,
}

async fn api_keys_page(
    app: &Dashboard,
    signed: &Signed,
    done: Option<&str>,
    view: KeysView,
) -> PageResult {
    let chrome = Chrome::new(app, signed, "API keys", Section::Members, done).await?;
    let keys = organizations::list_api_keys(&app.platform, signed.caller()).await?;
    let status = view.errors.status();
    Ok(page::render_with(
        status,
        &ApiKeysPage {
            chrome,
            keys,
            created: view.created,
            name: view.name,
            errors: view.errors,
            choices: scope_choices(signed, view.scopes),
        },
    ))
}

/// The keys page; right after a key was made, it shows that key this once.
pub(crate) async fn api_keys(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let view = KeysView {
        created: shown_once::take(&app, &signed).await?,
        name: String::new(),
        scopes: ApiKeyScopes::default_for_new_keys(),
        errors: Errors::none(),
    };
    api_keys_page(&app, &signed, done.done.as_deref(), view).await
}

/// A new key: its name, and a checkbox per scope (`scope_write=on`, …); an unticked box
/// is left out of the form.
#[derive(Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope_write: Option<String>,
    #[serde(default)]
    scope_gateway: Option<String>,
    #[serde(default)]
    scope_admin: Option<String>,
}

impl KeyForm {
    fn scopes(&self) -> ApiKeyScopes {
        let ticked = [
            (ApiKeyScope::Write, &self.scope_write),
            (ApiKeyScope::Gateway, &self.scope_gateway),
            (ApiKeyScope::Admin, &self.scope_admin),
        ];
        let chosen: Vec<ApiKeyScope> = ticked
            .into_iter()
            .filter(|(_, box_value)| box_value.is_some())
            .map(|(scope, _)| scope)
            .collect();
        ApiKeyScopes::from_chosen(&chosen)
    }
}

pub(crate) async fn create_api_key(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<KeyForm>,
) -> PageResult {
    let scopes = form.scopes();
    let made = organizations::create_api_key(
        &app.platform,
        signed.caller(),
        &form.name,
        Some(scopes.clone()),
    )
    .await;
    let created = match made {
        Ok(created) => created,
        Err(refused) => {
            let view = KeysView {
                created: None,
                name: form.name,
                scopes,
                errors: FormError::refused(refused, KEY_FORM)?.into(),
            };
            return api_keys_page(&app, &signed, None, view).await;
        }
    };
    // Shown after a redirect, so that reloading the page cannot post the form again.
    if shown_once::keep(&app, &signed, &created.plaintext).await? {
        return Ok(page::done("/app/api-keys", Notice::Created));
    }
    let view = KeysView {
        created: Some(created.plaintext),
        name: String::new(),
        scopes: ApiKeyScopes::default_for_new_keys(),
        errors: Errors::none(),
    };
    api_keys_page(&app, &signed, Some("created"), view).await
}

pub(crate) async fn revoke_api_key(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ApiKeyId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let keys = organizations::list_api_keys(&app.platform, signed.caller()).await?;
        let key = keys
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(PageError::NotFound)?;
        let question = Question {
            title: "Revoke this key?".into(),
            message: format!(
                "The key \u{201c}{}\u{201d} ({}…) stops working at once: programs that use it \
                 are refused. This cannot be undone.",
                key.name, key.display_prefix
            ),
            action: format!("/app/api-keys/{id}/revoke"),
            button: "Revoke key".into(),
            back: "/app/api-keys".into(),
            section: Section::Members,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Administer, question).await;
    }
    organizations::revoke_api_key(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/api-keys", Notice::Revoked))
}
