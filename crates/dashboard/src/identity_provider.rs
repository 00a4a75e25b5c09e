//! A server's identity provider: the organization's own OpenID Connect
//! provider, to which a `custom_oauth` server sends people to sign in. Set, replaced and
//! removed on the server's page as through `PUT` and `DELETE /api/v1/servers/{id}/oidc`,
//! with the same checks (core's `oidc`). The client secret goes in and is never shown
//! again: its field is always blank, and left blank it keeps the stored secret.

use axum::extract::State;
use guidepost_core::accounts::oidc;
use guidepost_core::{Permission, hosting::servers};
use guidepost_domain::*;

use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{FormError, FormSpec};
use crate::identity_provider_form::ProviderForm;
use crate::page::{self, IdPath, Notice, PageResult, Section};
use crate::servers::{Again, show_page};
use crate::session::SignedForm;

/// The provider form's inputs are `idp-…`; the removal's refusal is said beside its button.
const PROVIDER_FORM: FormSpec = FormSpec {
    prefix: "idp",
    conflict_field: "issuer_url",
};
const REMOVAL: FormSpec = FormSpec {
    prefix: "idp",
    conflict_field: "remove",
};

/// `POST /app/servers/{id}/identity-provider`: sets or replaces the provider; a provider
/// that cannot be used is refused beside the field at fault, nothing stored.
pub(crate) async fn set(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<ProviderForm>,
) -> PageResult {
    let caller = signed.caller();
    // Who may is said before what was posted is judged.
    caller.require(Permission::Edit)?;
    let refused = match form.input() {
        Ok(input) => oidc::put_with(&app.platform, caller, &id, input, form.missing_secret())
            .await
            .err()
            .map(|refused| FormError::refused(refused, PROVIDER_FORM)),
        Err(invalid) => Some(FormError::of_page(invalid, PROVIDER_FORM)),
    };
    match refused {
        None => Ok(done(&id, Notice::Saved)),
        Some(refused) => {
            let again = Again::identity_provider(Some(form), refused?.into());
            show_page(&app, &signed, &id, None, again).await
        }
    }
}

/// `POST /app/servers/{id}/identity-provider/remove`: asks first (the secret is gone
/// with it); refused while the server signs people in through it.
pub(crate) async fn remove(
    State(app): State<Dashboard>,
    IdPath(id): IdPath<ServerId>,
    SignedForm { signed, form }: SignedForm<Confirm>,
) -> PageResult {
    if !form.given() {
        let server = servers::get(&app.platform, signed.caller(), &id).await?;
        let question = Question {
            title: format!("Remove the identity provider of {}?", server.name),
            message: "Its client ID and encrypted client secret are deleted; to use it again, \
                      enter them again. A server signing people in through it must be switched \
                      to another sign-in mode first."
                .into(),
            action: format!("/app/servers/{id}/identity-provider/remove"),
            button: "Remove identity provider".into(),
            back: format!("/app/servers/{id}"),
            section: Section::Servers,
            instead: None,
            fields: Vec::new(),
        };
        return confirm::ask(&app, &signed, Permission::Edit, question).await;
    }
    match oidc::delete(&app.platform, signed.caller(), &id).await {
        Ok(()) => Ok(done(&id, Notice::Deleted)),
        Err(refused) => {
            let errors = FormError::refused(refused, REMOVAL)?.into();
            let again = Again::identity_provider(None, errors);
            show_page(&app, &signed, &id, None, again).await
        }
    }
}

fn done(id: &ServerId, notice: Notice) -> axum::response::Response {
    page::done(&format!("/app/servers/{id}"), notice)
}
