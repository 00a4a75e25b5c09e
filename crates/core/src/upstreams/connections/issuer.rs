//! Mix-up defence (RFC 9700 §4.4): an authorization server's endpoints belong
//! to its issuer.
//!
//! One callback URL serves every upstream, and many servers send no `iss` with their
//! answer (RFC 9207 is optional). A hostile server's metadata could then name an honest
//! server's authorization (and registration) endpoint beside its own token endpoint: the
//! person signs in at the honest server, and its code, with the PKCE verifier, would be
//! posted to the hostile one, which redeems it as them. So the endpoints the platform
//! uses must be on the issuer's own origin (scheme, host and port), unless an editor who
//! knows the server lays them out otherwise allows it for that upstream
//! (`allow_foreign_oauth_endpoints`).

use url::Url;

/// The setting that lets an upstream's authorization server keep its endpoints on other
/// origins, as the refusal names it.
pub(crate) const ALLOW_FOREIGN_ENDPOINTS: &str = "allow_foreign_oauth_endpoints";

/// Whether `endpoint` is on the origin of `issuer`: the same scheme, host and port (the
/// scheme's default port when none is written). A URL that does not parse belongs to
/// nothing.
pub(crate) fn same_origin(issuer: &str, endpoint: &str) -> bool {
    match (Url::parse(issuer), Url::parse(endpoint)) {
        // `Origin` of an opaque URL (no host) equals nothing, not even itself.
        (Ok(issuer), Ok(endpoint)) => issuer.origin() == endpoint.origin(),
        _ => false,
    }
}

/// The first of `endpoints` (what it is, its URL) that is not on `issuer`'s origin, as
/// the refusal to show; `None` when they all are.
pub fn foreign_endpoint<'w, 'u>(
    issuer: &str,
    endpoints: impl IntoIterator<Item = (&'w str, &'u str)>,
) -> Option<String> {
    let (what, url) = endpoints
        .into_iter()
        .find(|(_, url)| !same_origin(issuer, url))?;
    let shown = |s: &str| s.chars().take(300).collect::<String>();
    Some(format!(
        "the authorization server {:?} puts its {what} at {:?}, outside its own origin: \
         refused, since a server whose endpoints lie elsewhere could have another server's \
         code sent to it (mix-up, RFC 9700 §4.4); if this server is trusted and really is \
         laid out so, an editor can allow it on the upstream ({ALLOW_FOREIGN_ENDPOINTS})",
        shown(issuer),
        shown(url)
    ))
}

/// [`foreign_endpoint`] over what the platform keeps of a server it discovered: the
/// endpoints it will send a browser or a request to.
pub(crate) fn foreign_endpoint_of(
    server: &guidepost_domain::UpstreamAuthorization,
) -> Option<String> {
    let endpoints = [
        (
            "authorization endpoint",
            Some(&server.authorization_endpoint),
        ),
        ("token endpoint", Some(&server.token_endpoint)),
        ("revocation endpoint", server.revocation_endpoint.as_ref()),
    ];
    foreign_endpoint(
        &server.issuer,
        endpoints
            .into_iter()
            .filter_map(|(what, url)| Some((what, url?.as_str()))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_on_the_issuers_origin_belong_to_it() {
        let issuer = "https://as.example/tenant";
        for endpoint in [
            "https://as.example/authorize",
            "https://as.example/tenant/token",
            "https://AS.example:443/x?y=z",
        ] {
            assert!(same_origin(issuer, endpoint), "{endpoint}");
        }
        assert!(same_origin(
            "http://127.0.0.1:8080/as",
            "http://127.0.0.1:8080/as/token"
        ));
    }

    #[test]
    fn another_scheme_host_or_port_is_foreign() {
        let issuer = "https://as.example";
        for endpoint in [
            "http://as.example/token",
            "https://evil.example/token",
            "https://as.example.evil.example/token",
            "https://sub.as.example/token",
            "https://as.example:8443/token",
            "not a url",
            "",
            "data:text/plain,https://as.example",
        ] {
            assert!(!same_origin(issuer, endpoint), "{endpoint}");
        }
        assert!(!same_origin("not a url", "https://as.example/token"));
        assert!(!same_origin(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081/token"
        ));
    }

    #[test]
    fn the_refusal_names_the_first_foreign_endpoint_and_the_setting() {
        let issuer = "https://hostile.example";
        let endpoints = [
            ("authorization endpoint", "https://honest.example/authorize"),
            ("token endpoint", "https://hostile.example/token"),
        ];
        let why = foreign_endpoint(issuer, endpoints).expect("refused");
        assert!(why.contains("authorization endpoint"), "{why}");
        assert!(why.contains("https://honest.example/authorize"), "{why}");
        assert!(why.contains(ALLOW_FOREIGN_ENDPOINTS), "{why}");
        let own = [("token endpoint", "https://hostile.example/token")];
        assert_eq!(foreign_endpoint(issuer, own), None);
    }

    #[test]
    fn a_stored_server_is_checked_on_every_endpoint_it_keeps() {
        let mut server = super::super::test_server();
        assert_eq!(foreign_endpoint_of(&server), None);
        server.revocation_endpoint = Some("https://elsewhere.example/revoke".into());
        let why = foreign_endpoint_of(&server).expect("refused");
        assert!(why.contains("revocation endpoint"), "{why}");
    }
}
