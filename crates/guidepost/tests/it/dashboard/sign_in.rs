//! Signing in to the dashboard by emailed code, and signing out.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{Browser, add_member, dashboard_app};

async fn a_member_signs_in_by_code_and_out_again(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    add_member(&app, &app.tenant, "ada@acme.example", Role::Owner).await;
    let mut browser = Browser::new(&app.app.url);

    // Without a session every page sends the browser to sign in, and back afterwards.
    let location = browser
        .get("/app/servers")
        .await
        .redirected_to("/app/sign-in");
    assert!(location.contains("next=%2Fapp%2Fservers"), "{location}");

    // A wrong code is refused and counted; the right one opens a session.
    let page = browser.get(&location).await;
    assert!(page.ok().contains("Email me a code"));
    browser
        .post(
            "/app/sign-in",
            &[("email", "ada@acme.example"), ("next", "/app/servers")],
        )
        .await
        .redirected_to("/app/sign-in/code");
    let code = app.code_for("ada@acme.example");
    assert_eq!(code.len(), 8, "{code}");
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let refused = browser
        .post(
            "/app/sign-in/code",
            &[
                ("email", "ada@acme.example"),
                ("code", wrong),
                ("next", "/app/servers"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("That code is not right"),
        "{}",
        refused.body
    );
    assert!(!browser.has_session());
    let signed = browser
        .post(
            "/app/sign-in/code",
            &[
                ("email", "ada@acme.example"),
                ("code", &code),
                ("next", "/app/servers"),
            ],
        )
        .await;
    assert_eq!(signed.redirected_to("/app/servers"), "/app/servers");
    assert!(browser.has_session());
    assert!(
        browser
            .get("/app/servers")
            .await
            .ok()
            .contains("ada@acme.example (owner)")
    );

    // The code worked once.
    let mut other = Browser::new(&app.app.url);
    other.get("/app/sign-in").await;
    let again = other
        .post(
            "/app/sign-in/code",
            &[("email", "ada@acme.example"), ("code", &code)],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Signing out ends the session on the server, not only in this browser.
    let cookie = browser.cookie("__Host-gp_dashboard").unwrap();
    browser
        .post("/app/sign-out", &[])
        .await
        .redirected_to("/app/sign-in");
    let mut replay = Browser::new(&app.app.url);
    replay.set_cookie("__Host-gp_dashboard", &cookie);
    replay.get("/app/").await.redirected_to("/app/sign-in");
}

async fn the_session_cookie_is_host_bound_and_the_store_keeps_only_its_hash(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    add_member(&app, &app.tenant, "ada@acme.example", Role::Editor).await;
    let mut browser = Browser::new(&app.app.url);
    browser.get("/app/sign-in").await;
    browser
        .post("/app/sign-in", &[("email", "ada@acme.example")])
        .await;
    let code = app.code_for("ada@acme.example");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/app/sign-in/code", app.app.url))
        .header(
            "cookie",
            format!(
                "__Host-gp_dashboard_signin={}",
                browser.cookie("__Host-gp_dashboard_signin").unwrap()
            ),
        )
        .form(&[
            ("email", "ada@acme.example"),
            ("code", code.as_str()),
            (
                "csrf_token",
                browser
                    .cookie("__Host-gp_dashboard_signin")
                    .unwrap()
                    .as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-gp_dashboard="))
        .expect("a session cookie");
    for attribute in ["; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let token = cookie
        .trim_start_matches("__Host-gp_dashboard=")
        .split(';')
        .next()
        .unwrap();
    assert!(token.len() >= 40, "{token}");
    let now = guidepost_domain::Timestamp::now();
    let by_plaintext = app
        .app
        .store
        .find_dashboard_session(token, now)
        .await
        .unwrap();
    assert!(
        by_plaintext.is_none(),
        "the token itself must not be a stored key"
    );
    let by_hash = app
        .app
        .store
        .find_dashboard_session(&guidepost_domain::hash_secret(token), now)
        .await
        .unwrap();
    assert_eq!(by_hash.unwrap().1.email.as_str(), "ada@acme.example");
}

async fn a_stranger_gets_the_same_answer_and_no_mail(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut browser = Browser::new(&app.app.url);
    browser.get("/app/sign-in").await;
    browser
        .post("/app/sign-in", &[("email", "nobody@acme.example")])
        .await
        .redirected_to("/app/sign-in/code");
    let mails = std::fs::read_dir(&app.outbox)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(mails, 0, "no mail for an address that is no member's");
    // The form needs its pre-session token.
    let mut bare = Browser::new(&app.app.url);
    let refused = bare
        .post_raw(
            "/app/sign-in",
            &[("email", "x@acme.example")],
            Some("forged"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

backend_tests!(
    a_member_signs_in_by_code_and_out_again,
    the_session_cookie_is_host_bound_and_the_store_keeps_only_its_hash,
    a_stranger_gets_the_same_answer_and_no_mail,
);

/// Posts a sign-in form (`fields` and the CSRF token) to `path` with the browser's
/// pre-session cookie `token`, not following the redirect: the status it answers.
async fn post_sign_in_form(
    app: &crate::oauth_helpers::OAuthApp,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
) -> StatusCode {
    let mut form = fields.to_vec();
    form.push(("csrf_token", token));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", app.app.url))
        .header("cookie", format!("__Host-gp_dashboard_signin={token}"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
}

/// Posts a code guess with the browser's pre-session cookie and token.
async fn guess(
    app: &crate::oauth_helpers::OAuthApp,
    token: &str,
    email: &str,
    code: &str,
) -> StatusCode {
    let fields = [("email", email), ("code", code)];
    post_sign_in_form(app, "/app/sign-in/code", token, &fields).await
}

async fn guesses_are_counted_even_in_parallel_and_strangers_hear_the_same(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    add_member(&app, &app.tenant, "ada@acme.example", Role::Owner).await;
    let mut browser = Browser::new(&app.app.url);
    browser.get("/app/sign-in").await;
    let token = browser.cookie("__Host-gp_dashboard_signin").unwrap();
    browser
        .post("/app/sign-in", &[("email", "ada@acme.example")])
        .await;
    let code = app.code_for("ada@acme.example");
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };

    // A member's wrong code and a stranger's read alike.
    let mut member_page = Browser::new(&app.app.url);
    member_page.get("/app/sign-in").await;
    let for_member = member_page
        .post(
            "/app/sign-in/code",
            &[("email", "ada@acme.example"), ("code", wrong)],
        )
        .await;
    let for_stranger = member_page
        .post(
            "/app/sign-in/code",
            &[("email", "eve@acme.example"), ("code", wrong)],
        )
        .await;
    assert_eq!(for_member.status, for_stranger.status);
    let error = |page: &super::Page| {
        let after = page.body.split("<a href=\"#code\">").nth(1)?;
        after.split("</a>").next().map(str::to_owned)
    };
    assert!(error(&for_member).is_some(), "{}", for_member.body);
    assert_eq!(error(&for_member), error(&for_stranger));
    // Asking again within seconds reads like the first time too.
    browser.get("/app/sign-in").await;
    let again = browser
        .post("/app/sign-in", &[("email", "ada@acme.example")])
        .await;
    again.redirected_to("/app/sign-in/code");

    // Twenty wrong guesses at once: the code had five guesses in all (one is spent).
    let guesses = (0..20).map(|_| guess(&app, &token, "ada@acme.example", wrong));
    let answers = futures::future::join_all(guesses).await;
    assert!(
        answers
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{answers:?}"
    );
    assert_eq!(
        guess(&app, &token, "ada@acme.example", &code).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the right code is locked out after the guesses"
    );
    let email = guidepost_domain::Email::parse("ada@acme.example").unwrap();
    let pending = app
        .app
        .store
        .get_sign_in_code(&email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pending.failed_attempts, 5,
        "no guess beyond the limit was compared"
    );
}

async fn after_sign_in_only_our_own_pages_are_places_to_go(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    add_member(&app, &app.tenant, "ada@acme.example", Role::Owner).await;
    // Longer than any page of ours: dropped, not echoed into a header and a page.
    let long = format!("/app/servers?x={}", "a".repeat(5000));
    for (next, lands) in [
        (long.as_str(), "/app/"),
        ("//evil.example/app/", "/app/"),
        ("https://evil.example/app/", "/app/"),
        ("/app/\\evil", "/app/"),
        ("/app/servers\u{1}", "/app/"),
        ("/app/servers?done=x", "/app/servers?done=x"),
    ] {
        let mut browser = Browser::new(&app.app.url);
        browser.get("/app/sign-in").await;
        browser
            .post("/app/sign-in", &[("email", "ada@acme.example")])
            .await;
        let code = app.code_for("ada@acme.example");
        let page = browser
            .post(
                "/app/sign-in/code",
                &[
                    ("email", "ada@acme.example"),
                    ("code", &code),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            page.body
        );
        assert_eq!(page.location.as_deref(), Some(lands), "{next:?}");
    }
}

/// Sends that read the same pending code at once (the resend gap not yet started): only
/// one code goes out, so the sending limits hold even for requests made in parallel.
async fn sends_at_once_mail_one_code(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    add_member(&app, &app.tenant, "ada@acme.example", Role::Owner).await;
    let mut browser = Browser::new(&app.app.url);
    browser.get("/app/sign-in").await;
    let token = browser.cookie("__Host-gp_dashboard_signin").unwrap();
    let send = || {
        post_sign_in_form(
            &app,
            "/app/sign-in",
            &token,
            &[("email", "ada@acme.example")],
        )
    };
    let answers = futures::future::join_all((0..6).map(|_| send())).await;
    for status in answers {
        assert!(status.is_redirection());
    }
    let mails = std::fs::read_dir(&app.outbox).map_or(0, |d| d.count());
    assert_eq!(mails, 1, "one code for sends made at once");
}

backend_tests!(
    guesses_are_counted_even_in_parallel_and_strangers_hear_the_same,
    sends_at_once_mail_one_code,
    after_sign_in_only_our_own_pages_are_places_to_go,
);
