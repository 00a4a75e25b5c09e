//! The trip to the upstream's authorization server: the server discovered (and registered
//! with) once and kept sealed, the authorization request (code with PKCE S256, the RFC
//! 8707 `resource`, the scopes it names), and its answer: RFC 9207's `iss` checked, the
//! code exchanged, the tokens sealed and stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_domain::*;

use super::flow::{
    CallbackParams, Connected, FlowError, Trip, finish_trip, next_trip_to, trip_context,
};
use super::*;

/// On to the upstream's authorization server; the trip keeps that server, to which alone
/// its callback answers.
pub(super) async fn to_upstream(
    platform: &Platform,
    flow: &ConnectFlow,
    from: ConnectStage,
) -> Result<String, FlowError> {
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    let server = authorization_server(platform, &upstream).await?;
    let to = ConnectStage::Authorizing;
    let (state, verifier) = next_trip_to(platform, flow, from, to, Some(&server)).await?;
    Ok(authorization_url(platform, &server, &state, &verifier))
}

/// Whether `server`'s endpoints may be used for `upstream`: on its issuer's origin, or
/// allowed elsewhere by an editor.
fn usable(upstream: &Upstream, server: &UpstreamAuthorization) -> bool {
    upstream.spec.allows_foreign_oauth_endpoints() || issuer::foreign_endpoint_of(server).is_none()
}

/// The upstream's authorization server as stored, else discovered now (and registered
/// with) and stored. A stored one whose endpoints are not (or no longer) allowed off its
/// issuer's origin is discovered again, which refuses it if it still is so: it may have
/// been kept before the check, or while an editor allowed it.
async fn authorization_server(
    platform: &Platform,
    upstream: &Upstream,
) -> Result<UpstreamAuthorization, FlowError> {
    if let Some(known) = stored_authorization(platform, upstream).await?
        && usable(upstream, &known)
    {
        return Ok(known);
    }
    let Some(RemoteSpec {
        url,
        oauth_client_id,
        ..
    }) = upstream.spec.remote()
    else {
        return Err(FlowError::Denied(format!(
            "{} is not a remote server",
            upstream.name
        )));
    };
    let secrets = super::super::secrets::opened(platform, upstream)
        .map_err(|why| FlowError::Core(CoreError::Conflict(why.to_string())))?;
    let request = Discovery {
        resource_url: url.clone(),
        client_id: oauth_client_id.clone(),
        client_secret: secrets.get(CLIENT_SECRET_NAME).cloned(),
        redirect_uri: callback_url(&platform.config),
        client_metadata_url: client_metadata_url(&platform.config),
        allow_foreign_endpoints: upstream.spec.allows_foreign_oauth_endpoints(),
    };
    let server = platform.connections.discover(&request).await?;
    let key = master_key(platform)?;
    let context = authorization_context(&upstream.org_id, &upstream.id);
    let sealed = seal_json(key, &server, &context);
    platform
        .store
        .put_upstream_authorization(&upstream.org_id, &upstream.id, &sealed, Timestamp::now())
        .await?;
    Ok(server)
}

fn authorization_url(
    platform: &Platform,
    server: &UpstreamAuthorization,
    state: &str,
    verifier: &str,
) -> String {
    let mut url = match url::Url::parse(&server.authorization_endpoint) {
        Ok(url) => url,
        // Discovery checked it; a stored record that no longer parses fails the trip at
        // the browser rather than here.
        Err(_) => return server.authorization_endpoint.clone(),
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &server.client_id)
            .append_pair("redirect_uri", &callback_url(&platform.config))
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", state)
            .append_pair("resource", &server.resource);
        if !server.scopes.is_empty() {
            query.append_pair("scope", &server.scopes.join(" "));
        }
    }
    url.into()
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)); the platform's SHA-256 is hex.
pub(super) fn pkce_challenge(verifier: &str) -> String {
    let hex = hash_secret(verifier);
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The upstream's answer: `iss` checked, the code exchanged, the tokens sealed and
/// stored. An organization's connection starts its upstream again, so that it discovers
/// its tools with the account.
///
/// Both the check and the exchange use the server the trip went to, sealed with it, not
/// whatever is stored now: the code goes only to the token endpoint of the issuer whose
/// authorization endpoint the browser was sent to.
pub(super) async fn upstream_answered(
    platform: &Platform,
    flow: ConnectFlow,
    params: CallbackParams,
    now: Timestamp,
) -> Result<Connected, FlowError> {
    finish_trip(platform, &flow, now).await?;
    let code = params.code.as_deref().ok_or(FlowError::Unknown)?;
    let upstream = platform
        .store
        .get_upstream(&flow.org_id, &flow.upstream_id)
        .await?;
    let key = master_key(platform)?;
    let sealed = flow.sealed.as_deref().ok_or(FlowError::Unknown)?;
    let trip: Trip = open_json(key, sealed, &trip_context(&flow.id))?;
    // A trip sealed before trips kept their server: start again.
    let server = trip.server.ok_or(FlowError::Unknown)?;
    check_issuer(&server, params.iss.as_deref())?;
    // The connection is refreshed and revoked at the stored server: the tokens must be
    // that server's.
    let stored = stored_authorization(platform, &upstream).await?;
    if stored.as_ref().map(|s| s.issuer.as_str()) != Some(server.issuer.as_str()) {
        return Err(FlowError::Denied(
            "the upstream's authorization server changed while you signed in; start again".into(),
        ));
    }
    let redirect_uri = callback_url(&platform.config);
    let issued = platform
        .connections
        .exchange(&server, code, &trip.verifier, &redirect_uri)
        .await?;
    connected(platform, upstream, &flow, &issued, false, now).await
}

/// RFC 9207: the `iss` of an answer must be the server the trip went to; a server that
/// says it sends one must have sent it. (A server that says nothing and sends none is
/// taken at its word: the same-origin rule on its endpoints is what guards it.)
fn check_issuer(server: &UpstreamAuthorization, iss: Option<&str>) -> Result<(), FlowError> {
    match iss {
        Some(iss) if iss != server.issuer => Err(FlowError::Denied(format!(
            "the answer came from {iss:?}, not from {:?}, the server the trip went to",
            server.issuer
        ))),
        None if server.iss_parameter_supported => Err(FlowError::Denied(
            "the authorization server's answer did not say who sent it (iss)".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_example() {
        // RFC 7636, Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_trip_sealed_before_trips_kept_their_server_reads_without_one() {
        // Its callback is refused (start again) rather than sent to the stored server.
        let old: Trip = serde_json::from_str(r#"{"verifier":"v"}"#).unwrap();
        assert!(old.server.is_none());
    }

    #[test]
    fn an_answer_from_another_issuer_is_refused() {
        let mut server = super::super::test_server();
        assert!(check_issuer(&server, Some("https://as.example")).is_ok());
        assert!(check_issuer(&server, None).is_ok());
        assert!(check_issuer(&server, Some("https://evil.example")).is_err());
        server.iss_parameter_supported = true;
        assert!(check_issuer(&server, None).is_err());
    }
}
