//! A walkthrough as one JSON file in the browser: a walkthrough's page exports
//! its draft as a download; the list page's upload form imports such a file as a new
//! walkthrough, and the import exports the same file again; a bad file re-renders the form
//! with why beside the file input and the key kept; a viewer gets no form.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::Value;

use super::{dashboard_app, member};

const LIST: &str = "/app/walkthroughs";
const IMPORT: &str = "/app/walkthroughs/import";

backend_tests! {
    async fn a_walkthrough_exported_as_json_imports_as_a_new_one_and_exports_the_same(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let seeded = app.app.seed_walkthrough(&app.tenant, "Getting started", 3, None).await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let editor_page = editor.get(&format!("{LIST}/{}", seeded.id)).await.ok().to_owned();
        let export = format!("{LIST}/{}/export", seeded.id);
        assert!(editor_page.contains(&format!("href=\"{export}\" download>Export the draft as JSON")), "{editor_page}");

        let (status, headers, exported) = editor.download(&export).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_eq!(headers["content-disposition"], "attachment; filename=\"getting-started.json\"");
        let document: Value = serde_json::from_slice(&exported).unwrap();
        assert_eq!(document["title"], "Getting started");
        assert_eq!(document["steps"].as_array().unwrap().len(), 3, "{document}");

        // Uploaded under the file's name as key: a new walkthrough, whose export is the same file.
        editor.get(LIST).await.ok();
        let imported = editor.post_multipart(IMPORT, &[("key", "")], ("file", "getting-started.json", &exported)).await;
        let path = imported.redirected_path(&format!("{LIST}/"));
        assert!(imported.location.as_deref().unwrap().ends_with("?done=created"), "{:?}", imported.location);
        let new_id = path.rsplit('/').next().unwrap().to_owned();
        assert_ne!(new_id, seeded.id, "a new walkthrough");
        let (_, again, reexported) = editor.download(&format!("{LIST}/{new_id}/export")).await;
        assert_eq!(again["content-disposition"], "attachment; filename=\"getting-started.json\"");
        assert_eq!(String::from_utf8(reexported).unwrap(), String::from_utf8(exported.clone()).unwrap());
        let (_, listed) = app.app.get("/walkthroughs", &app.tenant.key).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    }

    async fn a_bad_walkthrough_file_comes_back_beside_the_file_input(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let list = editor.get(LIST).await.ok().to_owned();
        assert!(list.contains(&format!("action=\"{IMPORT}\" enctype=\"multipart/form-data\"")), "{list}");

        // A typo in a key of the document: named, beside the file, the key kept.
        let typo = br#"{"title": "Start", "stpes": []}"#;
        let refused = editor.post_multipart(IMPORT, &[("key", "kept-key")], ("file", "start.json", typo)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let text = refused.text();
        assert!(text.contains("<nav class=\"main\""), "in the frame: {text}");
        assert!(text.contains("id=\"import-file-error\">Walkthrough file: is not a walkthrough in JSON"), "{text}");
        assert!(text.contains("stpes"), "names the unknown key: {text}");
        assert!(text.contains("value=\"kept-key\""), "{text}");
        assert!(text.contains("The walkthrough was not imported"), "{text}");

        // Not JSON at all, a walkthrough the rules refuse, a key that is not one, no file.
        let cases: [(&str, &[u8], &str); 4] = [
            ("", b"<html>", "Walkthrough file: is not a walkthrough in JSON: expected value at line 1 column 1"),
            ("", br#"{"title": ""}"#, "Walkthrough file: its title: "),
            ("../up", br#"{"title": "Start"}"#, "id=\"import-key-error\">Key: "),
            ("", b"", "Walkthrough file: choose a walkthrough's JSON file"),
        ];
        for (key, file, said) in cases {
            editor.get(LIST).await.ok();
            let refused = editor.post_multipart(IMPORT, &[("key", key)], ("file", "start.json", file)).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{said}: {}", refused.body);
            assert!(refused.text().contains(said), "{said}: {}", refused.text());
        }

        // Larger than the limit: said in place too.
        editor.get(LIST).await.ok();
        let huge = vec![b' '; 1024 * 1024 + 64 * 1024];
        let refused = editor.post_multipart(IMPORT, &[("key", "big")], ("file", "big.json", &huge)).await;
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.body);
        assert!(refused.text().contains("Walkthrough file: is larger than 1024 KiB"), "{}", refused.text());
        let (_, listed) = app.app.get("/walkthroughs", &app.tenant.key).await;
        assert_eq!(listed["items"], serde_json::json!([]), "nothing was imported");

        // A viewer gets no form, and is refused an upload.
        let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
        let list = viewer.get(LIST).await.ok().to_owned();
        assert!(!list.contains(IMPORT), "{list}");
        let refused = viewer.post_multipart(IMPORT, &[], ("file", "start.json", br#"{"title": "Start"}"#)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
}
