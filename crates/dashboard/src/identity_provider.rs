//! A server's identity provider (SPEC §3, §12): the organization's own OpenID Connect
//! provider, to which a `custom_oauth` server sends people to sign in. Set, replaced and
//! removed on the server's page as through `PUT` and `DELETE /api/v1/servers/{id}/oidc`,
//! with the same checks (core's `oidc`). The client secret goes in and is never shown
//! again: its field is always blank, and left blank it keeps the stored secret.

use axum::extract::State;
use guidepost_core::oidc::{self, MissingSecret, OidcInput, OidcView};
use guidepost_core::{Permission, servers};
use guidepost_domain::*;
use serde::Deserialize;

use crate::Dashboard;
use crate::confirm::{self, Confirm, Question};
use crate::form::{FormError, FormSpec};
use crate::page::{self, IdPath, Notice, PageError, PageResult, Section};
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

/// The provider form as posted. Checkboxes are absent when unticked.
#[derive(Deserialize)]
pub(crate) struct ProviderForm {
    #[serde(default)]
    issuer_url: String,
    #[serde(default)]
    client_id: String,
    /// Blank keeps the stored secret (unless `public_client`).
    #[serde(default)]
    client_secret: String,
    /// No secret at all: a public client, PKCE only.
    #[serde(default)]
    public_client: Option<String>,
    #[serde(default)]
    accept_unverified_email: Option<String>,
}

/// What the server's page shows of its provider, and the form's values.
pub(crate) struct ProviderPanel {
    /// Whether a provider is stored.
    pub stored: bool,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret_set: bool,
    pub accept_unverified_email: bool,
    /// The callback addresses to register for the client at the provider.
    pub redirect_uris: Vec<String>,
    /// Whether the platform can store a client secret (it has a master key).
    pub can_seal: bool,
}

impl ProviderPanel {
    /// From the stored provider, or the form as posted when it was refused.
    pub fn new(
        stored: Option<&OidcView>,
        posted: Option<&ProviderForm>,
        redirect_uris: Vec<String>,
        can_seal: bool,
    ) -> Self {
        let mut panel = ProviderPanel {
            stored: stored.is_some(),
            issuer_url: stored.map(|s| s.issuer_url.clone()).unwrap_or_default(),
            client_id: stored.map(|s| s.client_id.clone()).unwrap_or_default(),
            client_secret_set: stored.is_some_and(|s| s.client_secret_set),
            accept_unverified_email: stored.is_some_and(|s| s.accept_unverified_email),
            redirect_uris,
            can_seal,
        };
        if let Some(form) = posted {
            panel.issuer_url.clone_from(&form.issuer_url);
            panel.client_id.clone_from(&form.client_id);
            panel.accept_unverified_email = form.accept_unverified_email.is_some();
        }
        panel
    }
}

impl ProviderForm {
    /// A typed secret for a client declared public is a contradiction, not ignored.
    fn input(&self) -> Result<OidcInput, PageError> {
        let secret = page::optional(&self.client_secret);
        if secret.is_some() && self.public_client.is_some() {
            return Err(PageError::Invalid {
                field: "client_secret".into(),
                message: "a public client has none: leave it blank, or untick \
                          \"A public client\""
                    .into(),
            });
        }
        Ok(OidcInput {
            issuer_url: self.issuer_url.trim().to_owned(),
            client_id: self.client_id.trim().to_owned(),
            client_secret: secret,
            accept_unverified_email: self.accept_unverified_email.is_some(),
        })
    }

    /// A blank secret keeps the stored one, unless the client is declared public.
    fn missing_secret(&self) -> MissingSecret {
        if self.public_client.is_some() {
            MissingSecret::Remove
        } else {
            MissingSecret::Keep
        }
    }
}

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
