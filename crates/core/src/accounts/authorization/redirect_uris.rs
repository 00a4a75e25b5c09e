//! Where a client may have the browser sent back (OAuth 2.1 §2.3.1, RFC 8252 §7): the
//! rule is the same for registered clients and for client metadata documents.

use url::{Host, Url};

/// Longest redirect URI.
const REDIRECT_URI_MAX: usize = 2000;
/// Most redirect URIs per client.
const REDIRECT_URIS_MAX: usize = 10;

/// Schemes that must never receive an authorization response.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
];

/// Why a client's redirect URIs are refused, in words for its developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("redirect_uris must list 1 to {REDIRECT_URIS_MAX} URIs")]
    Count,
    #[error("redirect URIs are at most {REDIRECT_URI_MAX} characters")]
    TooLong,
    #[error("{uri:?} is not an absolute URI: {reason}")]
    NotAbsolute {
        uri: String,
        reason: url::ParseError,
    },
    #[error("{0:?} must not have a fragment")]
    Fragment(String),
    #[error("{0:?} must not carry user information")]
    UserInfo(String),
    #[error("{0:?}: plain http is allowed only on a loopback host (localhost, 127.0.0.1, [::1])")]
    PlainHttp(String),
    #[error("{uri:?}: the {scheme} scheme cannot be a redirect URI")]
    Scheme { uri: String, scheme: String },
}

/// A client's list of redirect URIs: 1 to `REDIRECT_URIS_MAX`, each allowed.
pub fn check_redirect_uris(uris: &[String]) -> Result<(), RedirectUriError> {
    if uris.is_empty() || uris.len() > REDIRECT_URIS_MAX {
        return Err(RedirectUriError::Count);
    }
    uris.iter().try_for_each(|uri| check_redirect_uri(uri))
}

/// A redirect URI a client may register: `https`; `http` only on a loopback host (native
/// apps); or a private-use scheme of a native app (for example `cursor://…`). No
/// fragment, no user info.
fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    if uri.len() > REDIRECT_URI_MAX {
        return Err(RedirectUriError::TooLong);
    }
    let parsed = Url::parse(uri).map_err(|reason| RedirectUriError::NotAbsolute {
        uri: uri.to_owned(),
        reason,
    })?;
    if parsed.fragment().is_some() {
        return Err(RedirectUriError::Fragment(uri.to_owned()));
    }
    if crate::hosting::urls::carries_credentials(&parsed) {
        return Err(RedirectUriError::UserInfo(uri.to_owned()));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" | "https" => Err(RedirectUriError::PlainHttp(uri.to_owned())),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(RedirectUriError::Scheme {
            uri: uri.to_owned(),
            scheme: scheme.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_the_native_app_rules() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:8080/cb",
            "http://[::1]:9000/",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good} should be allowed");
        }
        for bad in [
            "http://example.com/callback",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://user:pw@example.com/cb",
            "/relative",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_client_lists_one_to_ten_uris() {
        assert!(check_redirect_uris(&[]).is_err());
        let many = vec!["https://a.example/cb".to_owned(); REDIRECT_URIS_MAX + 1];
        assert!(check_redirect_uris(&many).is_err());
        assert!(check_redirect_uris(&many[..2]).is_ok());
    }
}
