//! The identity check of a person's connect link: the hosted server they connect from
//! signs them in (by its path address, on the platform host, with the platform as its
//! client) and the person who signed in must be the one the link was made for. The
//! person's own connections page proves who they are the same way (`mine`).

use guidepost_domain::*;

use super::authorize::to_upstream;
use super::flow::{FlowError, Trip, next_trip, trip_context};
use super::*;

/// The hosted server a person's flow proves them with.
pub(super) async fn flow_server(
    platform: &Platform,
    flow: &ConnectFlow,
) -> Result<McpServer, FlowError> {
    let id = flow.server_id.as_ref().ok_or(FlowError::Unknown)?;
    Ok(platform.store.get_server(&flow.org_id, id).await?)
}

/// Who vouches for the people of `server`: the platform's own sign-in, the organization's
/// OpenID provider (by its issuer, and whether it takes an unverified email), or the
/// server alone (whose people are not signed in by either). A person's connection serves
/// calls only from servers with the same answer as the one it was made through: one
/// end user is one email across an organization's servers, and the weakest sign-in among
/// them must not decide who uses a person's accounts.
pub(crate) async fn sign_in_of_server(
    platform: &Platform,
    server: &McpServer,
) -> Result<String, CoreError> {
    let own = || format!("server {}", server.id);
    Ok(match server.auth_mode {
        AuthMode::PlatformOauth => "platform".to_string(),
        AuthMode::CustomOauth => match platform
            .store
            .get_oidc_provider(&server.org_id, &server.id)
            .await?
        {
            Some(provider) if provider.accept_unverified_email => {
                format!("oidc {} unverified", provider.issuer_url)
            }
            Some(provider) => format!("oidc {}", provider.issuer_url),
            None => own(),
        },
        AuthMode::CollectEmail | AuthMode::None => own(),
    })
}

/// On to the hosted server's own sign-in, to come back to the connect callback.
pub(super) async fn to_identity_check(
    platform: &Platform,
    flow: &ConnectFlow,
) -> Result<String, FlowError> {
    let server = flow_server(platform, flow).await?;
    let (state, verifier) =
        next_trip(platform, flow, ConnectStage::Link, ConnectStage::Identity).await?;
    let callback = callback_url(&platform.config);
    identity_url(&platform.config, &server, &state, &verifier, &callback)
}

/// The hosted server's own sign-in (by its path address, on the platform host), with the
/// platform as its client, coming back to `redirect_uri` (the connect callback, or the
/// person's connections page's).
pub(super) fn identity_url(
    config: &PlatformConfig,
    server: &McpServer,
    state: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<String, FlowError> {
    let issuer = format!("{}/s/{}", platform_origin(config), server.slug);
    let mut url = url::Url::parse(&format!("{issuer}/authorize"))
        .map_err(|e| FlowError::Core(CoreError::Conflict(e.to_string())))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_metadata_url(config))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair(
            "code_challenge",
            &super::authorize::pkce_challenge(verifier),
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .append_pair(
            "resource",
            &crate::hosting::urls::path_mcp_url(config, server),
        );
    Ok(url.into())
}

/// Who signed in at the hosted server's sign-in that [`identity_url`] sent them to, from
/// the code it sent back to `redirect_uri`.
pub(super) async fn identify(
    platform: &Platform,
    server: &McpServer,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<EndUserId, FlowError> {
    let resource = crate::hosting::urls::path_mcp_url(&platform.config, server);
    let exchange = crate::accounts::authorization::tokens::CodeExchange {
        code,
        verifier,
        redirect_uri: Some(redirect_uri),
        resource: Some(&resource),
    };
    let client = platform_client(&platform.config);
    crate::accounts::authorization::tokens::identify_by_code(platform, server, &client, &exchange)
        .await?
        .map_err(|refusal| FlowError::Denied(refusal.to_string()))
}

/// The identity check's answer: the person who signed in must be the flow's; then on to
/// the upstream.
pub(super) async fn identity_checked(
    platform: &Platform,
    flow: &ConnectFlow,
    code: &str,
) -> Result<CallbackOutcome, FlowError> {
    let server = flow_server(platform, flow).await?;
    let key = master_key(platform)?;
    let sealed = flow.sealed.as_deref().ok_or(FlowError::Unknown)?;
    let trip: Trip = open_json(key, sealed, &trip_context(&flow.id))?;
    let callback = callback_url(&platform.config);
    let signed_in = identify(platform, &server, code, &trip.verifier, &callback).await?;
    if flow.owner.end_user() != Some(&signed_in) {
        return Err(FlowError::Denied(
            "this link was made for another person; sign in as the person who asked to connect"
                .into(),
        ));
    }
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    if let Some(header) = super::keys::key_header(&upstream) {
        // A server that takes a key instead of OAuth: the person gives theirs here.
        let (state, _) = next_trip(
            platform,
            flow,
            ConnectStage::Identity,
            ConnectStage::Authorizing,
        )
        .await?;
        return Ok(CallbackOutcome::AskKey(super::keys::KeyForm {
            state,
            upstream_name: upstream.name,
            header,
        }));
    }
    let next = to_upstream(platform, flow, ConnectStage::Identity).await?;
    Ok(CallbackOutcome::Continue(next))
}

/// The platform as a client of its own hosted servers' sign-in (the identity check): its
/// metadata document's URL, known without fetching it.
pub fn platform_client(config: &PlatformConfig) -> crate::accounts::authorization::clients::Client {
    crate::accounts::authorization::clients::Client {
        client_id: client_metadata_url(config),
        name: Some("Guidepost".into()),
        redirect_uris: vec![callback_url(config), super::mine_callback_url(config)],
        grant_types: vec!["authorization_code".into()],
        secret_hash: None,
    }
}
