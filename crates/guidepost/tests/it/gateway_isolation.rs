//! Each upstream process has a directory of its own: its working directory,
//! HOME and TMPDIR, and `${DATA_DIR}` in its entry, named by its id, so that two
//! installations (of one organization or two) never share files; it goes at uninstall.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{fixture_with, fixture_with_entry, text_of, wait_for};

backend_tests! {
    async fn every_upstream_has_a_directory_of_its_own(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_PLACE", "${DATA_DIR}/inner")], |_| {}).await;
        let (_, other) = f.app.api(Method::POST, "/upstreams", &f.acme.key,
            Some(json!({"catalog_entry_id": "fixture", "name": "Second"}))).await;
        let other = other["id"].as_str().unwrap().to_owned();
        wait_for(&f.app, &f.acme, &other, |u| u["status"] == "ready").await;
        let path = format!("/servers/{}/upstreams/{other}", f.server);
        let (status, _) = f.app.api(Method::PUT, &path, &f.acme.key, Some(json!({"prefix": "fy"}))).await;
        assert_eq!(status, StatusCode::OK);

        let mcp = &f.mcp;
        let whereami = |tool: &'static str| async move {
            let answer = mcp.call_tool(1, tool, json!({})).await;
            serde_json::from_str::<Value>(&text_of(&answer.body)).unwrap()
        };
        let first = whereami("fx__whereami").await;
        let second = whereami("fy__whereami").await;
        let dir = first["cwd"].as_str().unwrap().to_owned();
        assert!(dir.ends_with(&f.upstream), "named by its id: {first}");
        assert_eq!(first["home"], first["cwd"], "its HOME too");
        assert_eq!(first["place"], format!("{dir}/inner"), "${{DATA_DIR}} in its entry");
        assert!(second["cwd"].as_str().unwrap().ends_with(&other), "{second}");
        assert_ne!(first["cwd"], second["cwd"], "never shared");
        assert!(std::path::Path::new(&dir).is_dir());

        let (status, _) = f.app.api(Method::DELETE, &format!("/upstreams/{}", f.upstream), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(!std::path::Path::new(&dir).exists(), "removed at uninstall");
    }
}

backend_tests! {
    async fn an_entrys_settings_fill_its_launch_with_defaults_and_checked_types(db: &TestDatabase) {
        let setting = r#"config = [{ name = "greeting", description = "How it greets.", type = "string", default = "hello" }]"#;
        let env = [("FIXTURE_GREETING", "${config.greeting}")];
        let f = fixture_with_entry(db, "acme", 60_000, &env, setting, |_| {}).await;
        let install = |body: Value| f.app.api(Method::POST, "/upstreams", &f.acme.key, Some(body));
        let (status, problem) = install(json!({"catalog_entry_id": "fixture", "config": {"greeting": 3}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a number is no string: {problem}");
        let (status, problem) = install(json!({"catalog_entry_id": "fixture", "config": {"volume": 11}})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no such setting: {problem}");
        let (status, given) = install(json!({"catalog_entry_id": "fixture", "config": {"greeting": "bonjour"}})).await;
        assert_eq!(status, StatusCode::CREATED, "{given}");
        // Environment values are never shown (they may hold keys); the tool below reads
        // the rendered value.
        assert_eq!(given["spec"]["env"]["FIXTURE_GREETING"], "(hidden)", "{given}");
        let id = given["id"].as_str().unwrap().to_owned();
        wait_for(&f.app, &f.acme, &id, |u| u["status"] == "ready").await;
        let path = format!("/servers/{}/upstreams/{id}", f.server);
        f.app.api(Method::PUT, &path, &f.acme.key, Some(json!({"prefix": "fy"}))).await;

        let greeting = |tool: &'static str| {
            let mcp = &f.mcp;
            async move {
                let answer = mcp.call_tool(1, tool, json!({})).await;
                serde_json::from_str::<Value>(&text_of(&answer.body)).unwrap()["greeting"].clone()
            }
        };
        assert_eq!(greeting("fx__whereami").await, "hello", "the default");
        assert_eq!(greeting("fy__whereami").await, "bonjour", "the given value");
    }
}
