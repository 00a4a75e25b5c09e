//! The sign-in hardening: code sends counted per mailbox and per client
//! address, and per organization over every address and client (what many clients
//! could otherwise mail, each under its own cap), no bounce to an untrusted client before
//! the person acts, the refresh grace, one bounded login cookie per issuer;
//! and a code refused once its ten minutes are over.

use std::time::Duration;

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use crate::oauth_helpers::{Callback, OAuthApp, Pkce, oauth_app};

/// Mails in the outbox whose recipient is the mailbox `key` (case and `+tag` folded).
fn mails_to_mailbox(oauth: &OAuthApp, key: &str) -> usize {
    let fold = |to: &str| {
        let to = to.trim().to_ascii_lowercase();
        let (local, domain) = to.split_once('@').unwrap();
        format!("{}@{domain}", local.split('+').next().unwrap())
    };
    std::fs::read_dir(&oauth.outbox)
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter(|mail| {
                    mail.lines()
                        .find_map(|l| l.strip_prefix("To: "))
                        .is_some_and(|to| fold(to) == key)
                })
                .count()
        })
        .unwrap_or(0)
}

/// Ten minutes pass for every code sent so far: their expiry, as the store keeps it, is set
/// in the past.
async fn let_the_codes_expire(db: &TestDatabase) {
    let expire =
        "UPDATE oauth_login_sessions SET code_expires_at = 1 WHERE code_expires_at IS NOT NULL";
    match db.backend {
        TestBackend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(expire).execute(&pool).await.unwrap();
            pool.close().await;
        }
        TestBackend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(expire).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

backend_tests! {
    async fn a_code_past_its_ten_minutes_is_refused_and_a_new_one_signs_in(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("ada@example.com");
        let (login, page) = person.start(&url).await;
        let code_page = person.send_email(&login, &page).await;
        assert!(code_page.body.contains("It expires in 10 minutes"), "{}", code_page.body);
        let code = oauth.code_for("ada@example.com");
        let_the_codes_expire(db).await;

        // The right code, too late: refused in words, with the way to a new one.
        let late = person.send_code(&code_page, &code).await;
        assert_ne!(late.status, StatusCode::SEE_OTHER, "not signed in: {}", late.body);
        assert!(late.body.contains("That code expired. Ask for a new code below."), "{}", late.body);
        assert!(late.body.contains("Send a new code"), "{}", late.body);
        // A new code from that page signs in.
        let code_page = person.send_email(&login, &late).await;
        let fresh = oauth.code_for("ada@example.com");
        assert_ne!(fresh, code, "a new code");
        let signed_in = person.send_code(&code_page, &fresh).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    }

    async fn switching_the_email_after_a_send_does_not_reset_the_mailbox_cap(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.rate_limit_per_ip = 0).await;
        let client = oauth.register("acme", json!({})).await;
        let mut refused = 0;
        for n in 0..14 {
            let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
            let mut person = oauth.person(&format!("Victim+{n}@Example.com"));
            let (login, page) = person.start(&url).await;
            let sent = person
                .post(&page.action("/email"), &[("csrf_token", &page.csrf()), ("email", &person.email.clone())])
                .await;
            if sent.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(sent.body.contains("sent to this address"), "{}", sent.body);
                refused += 1;
                continue;
            }
            assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
            // The attacker moves the session to another address: the send to the victim
            // still counts.
            let code_page = person.get(&login).await;
            person
                .post(&code_page.action("/email"), &[("csrf_token", &code_page.csrf()), ("email", "eve@example.com")])
                .await;
        }
        assert_eq!(mails_to_mailbox(&oauth, "victim@example.com"), 10, "ten codes an hour reach one mailbox");
        assert_eq!(refused, 4);
    }

    async fn one_client_address_cannot_mail_without_bound(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.rate_limit_per_ip = 0).await;
        let client = oauth.register("acme", json!({})).await;
        let mut sent = 0;
        let mut answer = None;
        'sessions: for session in 0..12 {
            let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
            let mut person = oauth.person("nobody@example.com");
            let (login, mut page) = person.start(&url).await;
            for n in 0..3 {
                let email = format!("person{session}-{n}@example.com");
                let posted = person
                    .post(&page.action("/email"), &[("csrf_token", &page.csrf()), ("email", &email)])
                    .await;
                if posted.status != StatusCode::SEE_OTHER {
                    answer = Some(posted);
                    break 'sessions;
                }
                sent += 1;
                page = person.get(&login).await;
            }
        }
        assert_eq!(sent, 30, "thirty codes an hour from one address");
        let answer = answer.expect("the thirty-first is refused");
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(answer.body.contains("from your network"), "{}", answer.body);
    }

    async fn an_organization_mails_at_most_its_hourly_codes_over_every_address(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| {
            s.auth.rate_limit_per_ip = 0;
            s.platform.sign_in_codes_per_hour = 12;
        })
        .await;
        let client = oauth.register("acme", json!({})).await;
        let mut sent = 0;
        let mut answer = None;
        // One session and one mailbox each: neither the mailbox's cap (10) nor this
        // client's (30) is near.
        for n in 0..13 {
            let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
            let mut person = oauth.person(&format!("person{n}@example.com"));
            let (_, page) = person.start(&url).await;
            let email = person.email.clone();
            let posted = person
                .post(&page.action("/email"), &[("csrf_token", &page.csrf()), ("email", &email)])
                .await;
            if posted.status != StatusCode::SEE_OTHER {
                answer = Some(posted);
                break;
            }
            sent += 1;
        }
        assert_eq!(sent, 12, "the organization's twelve codes of the hour");
        let answer = answer.expect("the thirteenth is refused");
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(answer.body.contains("as many sign-in codes as it may this hour"), "{}", answer.body);
        let mailed: usize = (0..13).map(|n| mails_to_mailbox(&oauth, &format!("person{n}@example.com"))).sum();
        assert_eq!(mailed, 12, "no mail past the cap");
    }

    async fn a_registered_client_gets_no_bounce_before_the_person_acts(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let evil = "https://evil.example/cb";
        let mut client = oauth.register("acme", json!({"redirect_uris": [evil]})).await;
        client.redirect_uri = evil.into();
        let pkce = Pkce::new();
        let bad_requests: [&[(&str, Option<&str>)]; 3] = [
            &[("resource", Some("https://elsewhere.example/mcp"))],
            &[("response_type", Some("token"))],
            &[("scope", Some("everything"))],
        ];
        for overrides in bad_requests {
            let url = oauth.authorize_url("acme", &client, &pkce, overrides);
            let page = oauth.person("ada@example.com").get(&url).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{overrides:?}");
            assert!(page.location.is_none(), "the tenant's domain bounces nobody to {evil}");
            let link = page.return_link().expect("the person may go back");
            assert!(link.starts_with(evil), "{link}");
            assert!(page.body.contains("Return to evil.example"), "{}", page.body);
            let callback = Callback::parse(&link);
            assert!(callback.error.is_some() && callback.code.is_empty());
            assert_eq!(callback.state.as_deref(), Some("st-123"));
        }
        // A good request still goes on to sign in.
        let url = oauth.authorize_url("acme", &client, &pkce, &[]);
        let (_, page) = oauth.person("ada@example.com").start(&url).await;
        assert!(page.body.contains("name=\"email\""));
    }

    async fn a_browser_holds_one_bounded_login_cookie_per_issuer(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let raw = browser.get(&url).send().await.unwrap();
        let set = raw.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.starts_with("gp_login="), "{set}");
        assert!(set.contains("; Path=/s/acme;"), "scoped to the issuer: {set}");
        let attributes: Vec<&str> = set.split("; ").skip(1).collect();
        assert!(attributes.contains(&"HttpOnly") && attributes.contains(&"SameSite=Lax"), "{set}");
        let mut person = oauth.person("ada@example.com");
        let mut logins = Vec::new();
        for _ in 0..6 {
            let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
            let (login, _) = person.start(&url).await;
            logins.push(login);
        }
        assert_eq!(person.cookie_names(), ["gp_login"], "one cookie, however many attempts");
        for (n, login) in logins.iter().enumerate() {
            let page = person.get(login).await;
            let expected = if n < 2 { StatusCode::FORBIDDEN } else { StatusCode::OK };
            assert_eq!(page.status, expected, "sign-in {n}: the four newest are kept");
        }
        // The newest of them still signs in to the end.
        let email_page = person.get(&logins[5]).await;
        let code_page = person.send_email(&logins[5], &email_page).await;
        let done = person.send_code(&code_page, &oauth.code_for("ada@example.com")).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }

    async fn two_racing_refreshes_get_the_same_successors(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let first = tokens.refresh.clone().unwrap();
        let (a, b) = futures::join!(
            oauth.refresh("acme", &tokens.client, &first),
            oauth.refresh("acme", &tokens.client, &first),
        );
        assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{} {}", a.1, b.1);
        assert_eq!(a.1["access_token"], b.1["access_token"], "one successor, told twice");
        assert_eq!(a.1["refresh_token"], b.1["refresh_token"]);
        let access = a.1["access_token"].as_str().unwrap();
        let listed = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, StatusCode::OK, "the successor works: nothing was revoked");
        let next = a.1["refresh_token"].as_str().unwrap();
        let (status, _) = oauth.refresh("acme", &tokens.client, next).await;
        assert_eq!(status, StatusCode::OK, "and the successor refresh token too");
        // Another client holding the token gets nothing, even within the grace.
        let stranger = oauth.register("acme", json!({})).await;
        let (status, _) = oauth.refresh("acme", &stranger, &first).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    async fn a_refresh_token_presented_after_the_grace_revokes_the_family(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.refresh_grace = Duration::from_secs(1)).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let first = tokens.refresh.clone().unwrap();
        let (status, rotated) = oauth.refresh("acme", &tokens.client, &first).await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let (status, late) = oauth.refresh("acme", &tokens.client, &first).await;
        assert_eq!((status, late["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let access = rotated["access_token"].as_str().unwrap();
        let refused = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "the family is revoked");
    }
}
