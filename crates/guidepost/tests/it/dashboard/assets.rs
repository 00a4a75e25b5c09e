//! The dashboard's mark: every page (signed in, the sign-in page, an error page) names it
//! as its icon, the header shows it, and it is served as SVG under the build's hash,
//! cacheable for good; under another hash it is not found.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{Browser, dashboard_app, member};

/// The icon a page links, as its path.
fn icon_of(body: &str) -> String {
    let link = body
        .split("<link rel=\"icon\" href=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no icon: {body}"));
    let href = link.split('"').next().unwrap().to_owned();
    assert!(link.contains("type=\"image/svg+xml\""), "{body}");
    href
}

backend_tests! {
    async fn every_page_names_the_mark_as_its_icon_and_it_is_served_for_good(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let signed_in = viewer.get("/app/").await;
        let icon = icon_of(signed_in.ok());
        assert!(icon.starts_with("/app/assets/") && icon.ends_with("/mark.svg"), "{icon}");
        assert!(signed_in.ok().contains(&format!("<img class=\"mark\" src=\"{icon}\" alt=\"\"")));
        let mut stranger = Browser::new(&app.app.url);
        assert_eq!(icon_of(stranger.get("/app/sign-in").await.ok()), icon);
        let missing = viewer.get("/app/servers/srv_nothing_here").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(icon_of(&missing.body), icon);

        let http = reqwest::Client::new();
        let served = http.get(format!("{}{icon}", app.app.url)).send().await.unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        let header = |name: &str| served.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "image/svg+xml");
        assert!(header("cache-control").contains("immutable"));
        assert!(served.text().await.unwrap().starts_with("<svg "));
        // Another build's path (the hash is 16 hex digits).
        let elsewhere = "/app/assets/ffffffffffffffff/mark.svg";
        assert_ne!(icon, elsewhere);
        let gone = http.get(format!("{}{elsewhere}", app.app.url)).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }
}
