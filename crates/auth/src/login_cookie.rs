//! The cookie that binds login sessions to the browser that started them: one cookie per
//! issuer, holding the secrets of the browser's few newest sign-ins (only their hashes
//! are stored), so that a browser can finish a sign-in in each of a few tabs while
//! repeated attempts do not pile up cookies.
//!
//! Over HTTPS it is `__Host-gp_login` (Secure, `Path=/`, bound to the exact host) for a
//! server reached by its own host, and `__Secure-gp_login` with `Path=/s/{slug}` for one
//! reached by the path fallback, where the host is shared. Plain HTTP (local
//! development) cannot use either prefix and gets `gp_login` with the same path.

use guidepost_core::accounts::authorization::logins::LOGIN_TTL_SECS;
use guidepost_domain::LoginSessionId;
use http::{HeaderMap, HeaderValue, header};

use crate::address::Address;

/// Sign-ins one browser may have going at one issuer; a newer one forgets the oldest.
pub(crate) const MAX_SIGN_INS: usize = 4;
/// Between sign-ins, and between a sign-in's id and its secret (neither occurs in ids or
/// secrets, and both are cookie-safe).
const ENTRY_SEPARATOR: char = '.';
const PAIR_SEPARATOR: char = ':';

/// The login cookie of one issuer.
pub(crate) struct LoginCookie {
    name: &'static str,
    path: String,
    secure: bool,
}

impl LoginCookie {
    pub fn of(address: &Address) -> Self {
        let secure = address.is_https();
        let prefix = address.path_prefix();
        let name = match (secure, prefix.is_empty()) {
            (true, true) => "__Host-gp_login",
            (true, false) => "__Secure-gp_login",
            (false, _) => "gp_login",
        };
        let path = if prefix.is_empty() { "/" } else { prefix };
        Self {
            name,
            path: path.to_owned(),
            secure,
        }
    }

    /// The browser's secret for the login session `id`, if it holds one.
    pub fn secret<'h>(&self, headers: &'h HeaderMap, id: &str) -> Option<&'h str> {
        self.entries(headers)
            .find(|(held, _)| *held == id)
            .map(|(_, secret)| secret)
    }

    /// `Set-Cookie` that adds a sign-in to what the browser holds, newest first, keeping
    /// at most `MAX_SIGN_INS`.
    pub fn adding(&self, headers: &HeaderMap, id: &LoginSessionId, secret: &str) -> HeaderValue {
        let mut entries = vec![format!("{id}{PAIR_SEPARATOR}{secret}")];
        let others = self
            .entries(headers)
            .filter(|(held, _)| *held != id.as_str());
        entries.extend(
            others
                .take(MAX_SIGN_INS - 1)
                .map(|(id, secret)| format!("{id}{PAIR_SEPARATOR}{secret}")),
        );
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}={}; Path={}; Max-Age={LOGIN_TTL_SECS}; HttpOnly; SameSite=Lax{secure}",
            self.name,
            entries.join(&ENTRY_SEPARATOR.to_string()),
            self.path,
        );
        HeaderValue::from_str(&value).expect("ids, secrets and paths are header-safe")
    }

    /// The (id, secret) pairs of every cookie of this name the browser sent.
    fn entries<'h>(&self, headers: &'h HeaderMap) -> impl Iterator<Item = (&'h str, &'h str)> {
        let name = self.name;
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(move |(n, _)| *n == name)
            .flat_map(|(_, value)| value.split(ENTRY_SEPARATOR))
            .filter_map(|entry| entry.split_once(PAIR_SEPARATOR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(scheme: &str, path_slug: Option<&str>) -> Address {
        let prefix = path_slug.map(|s| format!("/s/{s}")).unwrap_or_default();
        Address::from_parts(&format!("{scheme}://acme.example.com"), &prefix)
    }

    fn set_cookie(cookie: &LoginCookie, held: &HeaderMap, n: usize) -> HeaderValue {
        let id = LoginSessionId::from_trusted(format!("ls_{n}"));
        cookie.adding(held, &id, &format!("secret{n}"))
    }

    #[test]
    fn https_names_carry_the_prefix_their_scope_allows() {
        let host = set_cookie(
            &LoginCookie::of(&address("https", None)),
            &HeaderMap::new(),
            1,
        );
        let host = host.to_str().unwrap();
        assert!(
            host.starts_with("__Host-gp_login=ls_1:secret1; Path=/;"),
            "{host}"
        );
        assert!(host.ends_with("; Secure"), "{host}");
        let path = LoginCookie::of(&address("https", Some("acme")));
        let path = set_cookie(&path, &HeaderMap::new(), 1);
        let path = path.to_str().unwrap();
        assert!(
            path.starts_with("__Secure-gp_login=ls_1:secret1; Path=/s/acme;"),
            "{path}"
        );
        let plain = set_cookie(
            &LoginCookie::of(&address("http", None)),
            &HeaderMap::new(),
            1,
        );
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn the_newest_sign_ins_are_kept_up_to_the_bound() {
        let cookie = LoginCookie::of(&address("http", None));
        let mut held = HeaderMap::new();
        for n in 0..10 {
            let set = set_cookie(&cookie, &held, n);
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            held.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        }
        let kept: Vec<_> = (0..10)
            .filter(|n| cookie.secret(&held, &format!("ls_{n}")).is_some())
            .collect();
        assert_eq!(kept, [6, 7, 8, 9]);
        assert_eq!(cookie.secret(&held, "ls_9"), Some("secret9"));
    }
}
