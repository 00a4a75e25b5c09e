//! Per-person keys: a remote server that takes an API key header instead of
//! OAuth (`person_key_header` in its spec) gets each person's own key, asked for on the
//! connect page once the person proved who they are, sealed like tokens and sent as that
//! header on their calls only. The form carries the flow's current `state`, random and
//! single use, so only the browser that just signed in can post it, once.

use guidepost_domain::*;
use serde::Deserialize;

use super::flow::{Connected, FlowError, SentCookies};
use super::*;

/// The longest key a person may give.
const KEY_MAX: usize = 4096;

/// The form that asks for a key.
#[derive(Debug, Clone)]
pub struct KeyForm {
    /// Posted back with the key: the flow's current trip.
    pub state: String,
    pub upstream_name: String,
    /// The header the key is sent in.
    pub header: String,
}

/// The form as posted.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyGiven {
    pub state: String,
    pub key: String,
}

/// The header a `person` upstream takes a key in, if it takes one instead of OAuth.
pub(super) fn key_header(upstream: &Upstream) -> Option<String> {
    let remote = upstream.spec.remote()?;
    let header = remote.person_key_header.clone()?;
    (remote.sign_in == UpstreamSignIn::Person).then_some(header)
}

/// Stores the person's key as their connection, once per form, from the browser that
/// opened the link (`sent`, its cookies by name).
pub async fn give_key(
    platform: &Platform,
    given: KeyGiven,
    sent: SentCookies<'_>,
) -> Result<Connected, FlowError> {
    let key_text = given.key.trim();
    let printable = !key_text.is_empty()
        && key_text.len() <= KEY_MAX
        && !key_text.chars().any(char::is_control);
    if !printable {
        return Err(FlowError::Denied(format!(
            "a key is 1 to {KEY_MAX} characters without line breaks"
        )));
    }
    if given.state.len() > 2048 {
        return Err(FlowError::Unknown);
    }
    let now = Timestamp::now();
    let flow = platform
        .store
        .find_connect_flow_by_state(&hash_secret(&given.state), now)
        .await?
        .filter(|flow| flow.stage == ConnectStage::Authorizing)
        .ok_or(FlowError::Unknown)?;
    super::flow::from_the_opening_browser(&flow, sent)?;
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    if key_header(&upstream).is_none() {
        return Err(FlowError::Unknown);
    }
    super::flow::finish_trip(platform, &flow, now).await?;
    let issued = IssuedTokens {
        access_token: key_text.to_owned(),
        refresh_token: None,
        expires_in: None,
        account: None,
    };
    super::connected(platform, upstream, &flow, &issued, true, now).await
}
