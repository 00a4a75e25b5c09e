//! The authorization server's half of the store, on every backend: clients and login
//! sessions stay inside their server and organization, codes are single-use (a replay
//! revokes the family), and refresh tokens rotate (a reuse revokes the family).
//! People and de-anonymization are in `linking_suite.rs`.

mod common;

use guidepost_domain::*;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{OAuthWorld, assert_not_found, email, oauth_world};

fn request() -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "cli_abcdefghij".into(),
        redirect_uri: "http://127.0.0.1:9999/callback".into(),
        state: Some("xyz".into()),
        code_challenge: "challenge".into(),
        scope: "mcp".into(),
        resource: "http://acme.localhost/mcp".into(),
    }
}

fn token(kind: TokenKind, seconds: i64) -> NewToken {
    NewToken {
        hash: hash_secret(&random_token("t_")),
        kind,
        expires_at: Timestamp::now().plus_seconds(seconds),
    }
}

/// A grant for Ada with one spent code, ready for tokens.
async fn grant_for(w: &OAuthWorld, who: &str) -> Grant {
    grant_signed_in(w, who, SignInFacts::default()).await
}

/// [`grant_for`], made by a sign-in that `sign_in` describes.
async fn grant_signed_in(w: &OAuthWorld, who: &str, sign_in: SignInFacts) -> Grant {
    let person = w
        .store
        .end_user_for_verified_email(&w.org, &email(who), Timestamp::now())
        .await
        .unwrap();
    let new = NewGrant {
        org_id: w.org.clone(),
        server_id: w.server.clone(),
        client_id: "cli_abcdefghij".into(),
        end_user_id: person.id,
        scope: "mcp".into(),
        resource: "http://acme.localhost/mcp".into(),
        sign_in,
    };
    let code = NewAuthorizationCode {
        code_hash: hash_secret(&random_token("c_")),
        redirect_uri: "http://127.0.0.1:9999/callback".into(),
        code_challenge: "challenge".into(),
        expires_at: Timestamp::now().plus_seconds(60),
    };
    w.store
        .create_grant_with_code(&new, &code, Timestamp::now())
        .await
        .unwrap()
}

async fn clients_belong_to_their_server(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let new = NewOAuthClient {
        org_id: w.org.clone(),
        server_id: w.server.clone(),
        client_name: Some("Cursor".into()),
        client_uri: None,
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        scope: Some("mcp".into()),
        secret_hash: Some(hash_secret("secret")),
    };
    let client = w.store.create_oauth_client(&new).await.unwrap();
    assert!(client.id.as_str().starts_with("cli_"));
    let found = w
        .store
        .get_oauth_client(&w.org, &w.server, client.id.as_str())
        .await
        .unwrap()
        .expect("found on its server");
    assert_eq!(found.redirect_uris, new.redirect_uris);
    assert_eq!(found.secret_hash, new.secret_hash);
    let elsewhere = w
        .store
        .get_oauth_client(&w.other_org, &w.other_server, client.id.as_str())
        .await
        .unwrap();
    assert!(elsewhere.is_none(), "another server never sees the client");
    let cross = NewOAuthClient {
        server_id: w.other_server.clone(),
        ..new
    };
    assert_not_found(
        w.store.create_oauth_client(&cross).await,
        "a client for another organization's server",
    );
}

async fn login_sessions_are_written_on_their_revision(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let new = NewLoginSession {
        org_id: w.org.clone(),
        server_id: w.server.clone(),
        secret_hash: hash_secret("cookie"),
        request: request(),
        client_name: Some("Cursor".into()),
        expires_at: Timestamp::now().plus_seconds(600),
    };
    let session = w.store.create_login_session(&new).await.unwrap();
    assert_eq!(session.stage, LoginStage::Email);
    assert_eq!(session.request, request());
    let mut next = session.clone();
    next.stage = LoginStage::Code;
    next.email = Some(email("ada@example.com"));
    next.code_hash = Some(hash_secret("123456"));
    next.code_expires_at = Some(Timestamp::now().plus_seconds(600));
    next.codes_sent = 1;
    next.sign_in = SignInFacts::at_provider("https://login.acme.example", ["eng".to_owned()]);
    let written = w
        .store
        .update_login_session(&next)
        .await
        .unwrap()
        .expect("written");
    assert_eq!(
        (written.stage, written.revision),
        (LoginStage::Code, session.revision + 1)
    );
    assert!(
        w.store.update_login_session(&next).await.unwrap().is_none(),
        "a write on an old revision is refused"
    );
    let again = w
        .store
        .get_login_session(&w.org, &w.server, &session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.email, Some(email("ada@example.com")));
    assert_eq!(again.sign_in, next.sign_in);
    assert!(
        w.store
            .get_login_session(&w.other_org, &w.other_server, &session.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn code_sends_are_counted_per_mailbox_and_client_within_the_hour(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let limits = CodeSendLimits {
        per_mailbox: 2,
        per_client_ip: 3,
        per_organization: 100,
    };
    let now = Timestamp::now();
    let send = |org: &OrgId, mailbox: &str, ip: &str, at: Timestamp| CodeSend {
        org_id: org.clone(),
        address_key: mailbox.into(),
        client_ip: Some(ip.into()),
        at,
    };
    let store = &w.store;
    let record = |s: CodeSend| async move { store.record_code_send(&s, limits).await.unwrap() };
    let ada = "ada@example.com";
    // Older than the hour: not counted.
    let old = record(send(&w.org, ada, "192.0.2.1", now.plus_seconds(-3700))).await;
    assert!(old.recorded);
    let first = record(send(&w.org, ada, "192.0.2.1", now)).await;
    assert_eq!(
        (first.to_mailbox, first.from_client_ip, first.recorded),
        (1, 1, true)
    );
    let second = record(send(&w.org, ada, "192.0.2.2", now)).await;
    assert_eq!(
        (second.to_mailbox, second.from_client_ip, second.recorded),
        (2, 1, true)
    );
    let third = record(send(&w.org, ada, "192.0.2.3", now)).await;
    assert_eq!(
        (third.to_mailbox, third.recorded),
        (2, false),
        "the mailbox is full"
    );
    // Another organization counts on its own.
    let elsewhere = record(send(&w.other_org, ada, "192.0.2.1", now)).await;
    assert_eq!((elsewhere.to_mailbox, elsewhere.recorded), (1, true));
    // One client address, many mailboxes.
    for n in 0..2 {
        let sent = record(send(&w.org, &format!("p{n}@example.com"), "192.0.2.1", now)).await;
        assert!(sent.recorded);
    }
    let over = record(send(&w.org, "p9@example.com", "192.0.2.1", now)).await;
    assert_eq!(
        (over.from_client_ip, over.recorded),
        (3, false),
        "the client is full"
    );
    // Expired sends are swept with the other sign-in records.
    let swept = w
        .store
        .delete_expired_auth_records(now.plus_seconds(-3600))
        .await;
    assert!(swept.unwrap() >= 1);
    let after = record(send(&w.org, ada, "192.0.2.9", now)).await;
    assert_eq!(after.to_mailbox, 2, "the recent sends remain");
}

async fn code_sends_are_counted_per_organization_over_every_mailbox_and_client(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let limits = CodeSendLimits {
        per_mailbox: 10,
        per_client_ip: 10,
        per_organization: 4,
    };
    let now = Timestamp::now();
    let store = &w.store;
    // Each send from another mailbox and client address: only the organization's total
    // binds them.
    let record = |org: &OrgId, n: usize, at: Timestamp| {
        let send = CodeSend {
            org_id: org.clone(),
            address_key: format!("person{n}@example.com"),
            client_ip: Some(format!("198.51.100.{n}")),
            at,
        };
        async move { store.record_code_send(&send, limits).await.unwrap() }
    };
    let old = record(&w.org, 0, now.plus_seconds(-3700)).await;
    assert!(old.recorded, "older than the hour: not counted");
    for n in 1..=4 {
        let sent = record(&w.org, n, now).await;
        assert_eq!((sent.in_organization, sent.recorded), (n as i64, true));
    }
    let over = record(&w.org, 5, now).await;
    assert_eq!(
        (
            over.to_mailbox,
            over.from_client_ip,
            over.in_organization,
            over.recorded
        ),
        (0, 0, 4, false),
        "the organization's hour is full"
    );
    assert_eq!(
        over.limit_reached(limits),
        Some(guidepost_domain::CodeSendLimit::Organization)
    );
    let elsewhere = record(&w.other_org, 5, now).await;
    assert_eq!(
        (elsewhere.in_organization, elsewhere.recorded),
        (1, true),
        "another organization counts on its own"
    );
}

async fn a_code_is_single_use_and_a_replay_revokes_the_family(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let person = w
        .store
        .end_user_for_verified_email(&w.org, &email("ada@example.com"), Timestamp::now())
        .await
        .unwrap();
    let code_hash = hash_secret("the-code");
    let new = NewGrant {
        org_id: w.org.clone(),
        server_id: w.server.clone(),
        client_id: "cli_abcdefghij".into(),
        end_user_id: person.id.clone(),
        scope: "mcp".into(),
        resource: "http://acme.localhost/mcp".into(),
        sign_in: SignInFacts::default(),
    };
    let code = NewAuthorizationCode {
        code_hash: code_hash.clone(),
        redirect_uri: "http://127.0.0.1:9999/callback".into(),
        code_challenge: "challenge".into(),
        expires_at: Timestamp::now().plus_seconds(60),
    };
    let grant = w
        .store
        .create_grant_with_code(&new, &code, Timestamp::now())
        .await
        .unwrap();
    let CodeRedemption::Fresh(spent) = w
        .store
        .consume_authorization_code(&code_hash, Timestamp::now())
        .await
        .unwrap()
    else {
        panic!("the first use is fresh");
    };
    assert_eq!(spent.grant.id, grant.id);
    assert_eq!(spent.code_challenge, "challenge");
    let access = token(TokenKind::Access, 3600);
    assert!(
        w.store
            .issue_tokens(
                &w.org,
                &grant.id,
                std::slice::from_ref(&access),
                Timestamp::now()
            )
            .await
            .unwrap()
    );
    let found = w.store.find_token(&access.hash).await.unwrap().unwrap();
    assert!(found.is_live(Timestamp::now()));
    assert_eq!(found.end_user.email, Some(email("ada@example.com")));
    assert_eq!(found.grant.resource, "http://acme.localhost/mcp");

    let replay = w
        .store
        .consume_authorization_code(&code_hash, Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(replay, CodeRedemption::Replayed));
    let revoked = w.store.find_token(&access.hash).await.unwrap().unwrap();
    assert!(
        !revoked.is_live(Timestamp::now()),
        "tokens from a replayed code are revoked"
    );
    assert!(
        !w.store
            .issue_tokens(
                &w.org,
                &grant.id,
                &[token(TokenKind::Access, 60)],
                Timestamp::now()
            )
            .await
            .unwrap(),
        "a revoked grant issues nothing"
    );
    assert!(matches!(
        w.store
            .consume_authorization_code(&hash_secret("unknown"), Timestamp::now())
            .await
            .unwrap(),
        CodeRedemption::Unknown
    ));
}

/// Presents a refresh token for rotation now, with a grace of `grace_secs`.
async fn rotate(
    w: &OAuthWorld,
    hash: &str,
    nonce: &str,
    successors: &[NewToken],
    grace_secs: i64,
) -> Rotation {
    let now = Timestamp::now();
    let rotation = RefreshRotation {
        token_hash: hash,
        successor_nonce: nonce,
        successors,
        now,
        grace_since: now.plus_seconds(-grace_secs),
    };
    w.store.rotate_refresh_token(&rotation).await.unwrap()
}

async fn refresh_tokens_rotate_and_a_reuse_revokes_the_family(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let grant = grant_for(&w, "ada@example.com").await;
    let (access, refresh) = (
        token(TokenKind::Access, 3600),
        token(TokenKind::Refresh, 86400),
    );
    let pair = [access.clone(), refresh.clone()];
    assert!(
        w.store
            .issue_tokens(&w.org, &grant.id, &pair, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        !w.store
            .issue_tokens(&w.other_org, &grant.id, &pair, Timestamp::now())
            .await
            .unwrap(),
        "another organization cannot issue tokens of this grant"
    );

    let (access2, refresh2) = (
        token(TokenKind::Access, 3600),
        token(TokenKind::Refresh, 86400),
    );
    let next = [access2.clone(), refresh2.clone()];
    let rotated = rotate(&w, &refresh.hash, "nonce-1", &next, 5).await;
    assert!(matches!(rotated, Rotation::Rotated));
    // A second presentation within the grace is told the successors' nonce and rotation
    // time; nothing is revoked or stored.
    let repeated = rotate(&w, &refresh.hash, "nonce-2", &next, 5).await;
    let Rotation::Repeated {
        successor_nonce,
        rotated_at,
    } = repeated
    else {
        panic!("within the grace: {repeated:?}");
    };
    assert_eq!(successor_nonce, "nonce-1");
    assert!(rotated_at <= Timestamp::now());
    let old = w.store.find_token(&refresh.hash).await.unwrap().unwrap();
    assert!(old.used_at.is_some() && !old.is_live(Timestamp::now()));
    assert!(
        w.store
            .find_token(&access2.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now())
    );
    assert!(
        matches!(
            rotate(&w, &access2.hash, "n", &[], 5).await,
            Rotation::Invalid
        ),
        "an access token is not a refresh token"
    );

    let stolen = [
        token(TokenKind::Access, 3600),
        token(TokenKind::Refresh, 86400),
    ];
    // After the grace (here: none), presenting it again is a reuse.
    let reuse = rotate(&w, &refresh.hash, "nonce-3", &stolen, 0).await;
    assert!(matches!(reuse, Rotation::Reused));
    for hash in [&access.hash, &access2.hash, &refresh2.hash] {
        let record = w.store.find_token(hash).await.unwrap().unwrap();
        assert!(
            !record.is_live(Timestamp::now()),
            "the whole family is revoked"
        );
    }
    assert!(
        w.store.find_token(&stolen[0].hash).await.unwrap().is_none(),
        "nothing new was issued"
    );
    assert!(
        matches!(
            rotate(&w, &refresh2.hash, "n", &stolen, 5).await,
            Rotation::Invalid
        ),
        "the newest refresh token of a revoked family is dead too"
    );
}

async fn revocation_and_expiry(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let grant = grant_for(&w, "ada@example.com").await;
    let (a, b, old) = (
        token(TokenKind::Access, 3600),
        token(TokenKind::Access, 3600),
        token(TokenKind::Access, -10),
    );
    let tokens = [a.clone(), b.clone(), old.clone()];
    assert!(
        w.store
            .issue_tokens(&w.org, &grant.id, &tokens, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        !w.store
            .find_token(&old.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now())
    );

    w.store
        .revoke_token(&w.other_org, &a.hash, Timestamp::now())
        .await
        .unwrap();
    assert!(
        w.store
            .find_token(&a.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now()),
        "not another org's to revoke"
    );
    w.store
        .revoke_token(&w.org, &a.hash, Timestamp::now())
        .await
        .unwrap();
    assert!(
        !w.store
            .find_token(&a.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now())
    );
    assert!(
        w.store
            .find_token(&b.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now())
    );
    w.store
        .revoke_grant(&w.org, &grant.id, Timestamp::now())
        .await
        .unwrap();
    assert!(
        !w.store
            .find_token(&b.hash)
            .await
            .unwrap()
            .unwrap()
            .is_live(Timestamp::now())
    );

    let deleted = w
        .store
        .delete_expired_auth_records(Timestamp::now())
        .await
        .unwrap();
    assert!(deleted >= 1);
    assert!(
        w.store.find_token(&old.hash).await.unwrap().is_none(),
        "expired tokens are deleted"
    );
    assert!(
        w.store.find_token(&b.hash).await.unwrap().is_some(),
        "live rows stay"
    );
}

/// A grant keeps how its person signed in, and a token reads their role in its own
/// organization only, by their verified email.
async fn a_token_carries_its_sign_in_and_its_persons_role(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let groups = ["eng".to_owned(), "oncall".to_owned()];
    let sign_in = SignInFacts::at_provider("https://login.acme.example", groups);
    let grant = grant_signed_in(&w, "ada@example.com", sign_in.clone()).await;
    assert_eq!(grant.sign_in, sign_in);
    let access = token(TokenKind::Access, 3600);
    let issued = w
        .store
        .issue_tokens(
            &w.org,
            &grant.id,
            std::slice::from_ref(&access),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(issued);
    let record = w.store.find_token(&access.hash).await.unwrap().unwrap();
    assert_eq!(
        (record.grant.sign_in, record.member_role),
        (sign_in.clone(), None)
    );
    // A member of another organization with the same email is not a member here.
    let ada = email("ada@example.com");
    w.store
        .create_member(&w.other_org, &ada, Role::Owner)
        .await
        .unwrap();
    let record = w.store.find_token(&access.hash).await.unwrap().unwrap();
    assert_eq!(record.member_role, None);
    w.store
        .create_member(&w.org, &ada, Role::Editor)
        .await
        .unwrap();
    let record = w.store.find_token(&access.hash).await.unwrap().unwrap();
    assert_eq!(record.member_role, Some(Role::Editor));
}

backend_tests!(
    a_token_carries_its_sign_in_and_its_persons_role,
    clients_belong_to_their_server,
    login_sessions_are_written_on_their_revision,
    code_sends_are_counted_per_mailbox_and_client_within_the_hour,
    code_sends_are_counted_per_organization_over_every_mailbox_and_client,
    a_code_is_single_use_and_a_replay_revokes_the_family,
    refresh_tokens_rotate_and_a_reuse_revokes_the_family,
    revocation_and_expiry,
);
