//! Who is calling (SPEC §3): the end user behind a request, first match wins —
//! a verified token subject, then the `tracking_id` of a personal URL, then the session.

use guidepost_domain::*;

use crate::{CoreError, Platform};

/// What a request tells about its caller, gathered by the transport.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub tracking_id: Option<TrackingId>,
    /// The session-era session, if the request belongs to one.
    pub session: Option<McpSession>,
}

impl Caller {
    /// Whether anything identifies this caller beyond a single request.
    pub fn is_identifiable(&self) -> bool {
        self.tracking_id.is_some() || self.session.is_some()
    }
}

/// The end user for a caller. A session without one gets a new anonymous end user,
/// remembered on the session. A stateless call with neither tracking id nor token is
/// anonymous: `None`.
pub async fn resolve_end_user(
    platform: &Platform,
    caller: &Caller,
) -> Result<Option<EndUser>, CoreError> {
    let store = &platform.store;
    let now = Timestamp::now();
    if let Some(tracking_id) = &caller.tracking_id {
        return Ok(Some(
            store
                .end_user_for_tracking_id(&caller.org_id, tracking_id.as_str(), now)
                .await?,
        ));
    }
    let Some(session) = &caller.session else {
        return Ok(None);
    };
    if let Some(id) = &session.end_user_id {
        match store.get_end_user(&caller.org_id, id).await {
            Ok(user) => return Ok(Some(user)),
            Err(guidepost_store::StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let user = store.create_anonymous_end_user(&caller.org_id, now).await?;
    store
        .set_session_end_user(&caller.org_id, &session.transport_id, &user.id)
        .await?;
    Ok(Some(user))
}

/// How an anonymous caller can become identifiable; shown to agents in tool errors.
pub fn how_to_identify(personal_url_hint: &str) -> String {
    format!(
        "This call carries no identity. Connect with a personal URL that includes a tracking id \
         (for example {personal_url_hint}?tracking_id=<your-id>), or sign in, and call again."
    )
}
