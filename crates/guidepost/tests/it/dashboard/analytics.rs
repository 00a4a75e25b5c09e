//! Analytics, funnels and end users in the dashboard, from real tool calls: the numbers on
//! the pages (tables and SVG charts) are the calls that were made, the funnel places each
//! person at their step, and another organization's objects are not found.

use guidepost_core::walkthroughs::authoring::{self, CreateWalkthrough};
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use super::{dashboard_app, member};
use crate::helpers::{SeededWalkthrough, Tenant, TestApp, personal_client};

/// The cells of a table's body rows, by the table's id (tags stripped).
pub fn table_rows(body: &str, id: &str) -> Vec<Vec<String>> {
    let start = body
        .find(&format!("<table tabindex=\"0\" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}: {body}"));
    let table = &body[start..];
    let table = &table[..table.find("</table>").unwrap()];
    let tbody = &table[table.find("<tbody>").unwrap()..];
    tbody
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("</td>")
                .flat_map(|cell| cell.split("</th>"))
                .map(strip_tags)
                .filter(|cell| !cell.is_empty())
                .collect()
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

/// The first `prefix…` id in a page after `marker`.
pub fn id_after(body: &str, marker: &str, prefix: &str) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker}: {body}"))
        + marker.len();
    let rest = &body[at..];
    let start = rest.find(prefix).unwrap();
    rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Server `acme` with a three-step walkthrough; `ada` is at step 2 after two calls and a
/// failed one, `bob` at step 1 after one. Returns once the four calls are recorded.
async fn two_people_on_a_walkthrough(
    app: &TestApp,
    tenant: &Tenant,
) -> (String, SeededWalkthrough) {
    let server = app.create_server(tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let walkthrough = app
        .seed_walkthrough(tenant, "Setup", 3, Some((&server, 1)))
        .await;
    let ada = personal_client(app, "acme", "ada-laptop");
    let select = json!({"walkthrough_id": walkthrough.id});
    ada.call_tool(1, "select_walkthrough", select.clone())
        .await
        .structured();
    ada.call_tool(2, "next_walkthrough_step", select.clone())
        .await
        .structured();
    let unknown = json!({"walkthrough_id": "wt_doesnotexist0000"});
    ada.call_tool(3, "get_walkthrough_status", unknown)
        .await
        .tool_error_text();
    let bob = personal_client(app, "acme", "bob-desktop");
    bob.call_tool(1, "select_walkthrough", select)
        .await
        .structured();
    app.wait_for_tool_calls(tenant, 4).await;
    (server, walkthrough)
}

fn sums(rows: &[Vec<String>]) -> (u64, u64) {
    rows.iter().fold((0, 0), |(calls, errors), row| {
        (
            calls + row[1].parse::<u64>().unwrap(),
            errors + row[2].parse::<u64>().unwrap(),
        )
    })
}

async fn analytics_show_the_calls_that_were_made(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (server, _) = two_people_on_a_walkthrough(&app.app, &app.tenant).await;
    let quiet = app.app.create_server(&app.tenant, "quiet", json!({})).await;
    // Reading analytics takes no more than the viewer role.
    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;

    for days in ["1", "7", "30"] {
        let page = viewer.get(&format!("/app/analytics?days={days}")).await;
        let body = page.ok();
        let buckets = table_rows(body, "calls-table");
        assert_eq!(
            buckets.len(),
            if days == "1" {
                24
            } else {
                days.parse().unwrap()
            }
        );
        assert_eq!(
            sums(&buckets),
            (4, 1),
            "every call once, in some bucket: {buckets:?}"
        );
        assert!(body.contains("<svg class=\"chart\" role=\"img\""), "{body}");
        assert!(
            body.contains("4 calls, 1 of them errors"),
            "the chart's description"
        );
        assert!(
            body.contains("<title id=\"calls-chart-title\">Tool calls per"),
            "{body}"
        );
    }
    let body = viewer.get("/app/analytics").await.body;
    let tools = table_rows(&body, "tools-table");
    let row = |name: &str| {
        tools
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name}: {tools:?}"))
            .clone()
    };
    assert_eq!(row("select_walkthrough")[1..4], ["2", "0", "0.0%"]);
    assert_eq!(row("next_walkthrough_step")[1..4], ["1", "0", "0.0%"]);
    assert_eq!(row("get_walkthrough_status")[1..4], ["1", "1", "100.0%"]);
    assert_eq!(tools.len(), 3);
    assert!(
        body.contains("<title id=\"latency-chart-title\">Latency per tool"),
        "{body}"
    );
    assert!(body.contains("<title id=\"errors-chart-title\">Error rate per tool"));
    assert!(
        body.contains("get_walkthrough_status: 100.0% (1 of 1)"),
        "a bar names its value"
    );
    assert!(
        body.contains("/app/analytics/funnel/wt_"),
        "walkthroughs link to their funnels"
    );

    // The server filter is a URL; the window links keep it.
    let quiet = quiet["id"].as_str().unwrap();
    let body = viewer
        .get(&format!("/app/analytics?server={quiet}&days=7"))
        .await
        .body;
    assert_eq!(sums(&table_rows(&body, "calls-table")), (0, 0));
    assert!(body.contains("No tool calls in this window."));
    assert!(
        body.contains(&format!(
            "href=\"/app/analytics?days=30&#38;server={quiet}\""
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("<option value=\"{quiet}\" selected>")),
        "{body}"
    );
    let body = viewer
        .get(&format!("/app/analytics?server={server}"))
        .await
        .body;
    assert_eq!(sums(&table_rows(&body, "calls-table")), (4, 1));
    let refused = viewer.get("/app/analytics?days=5").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A range reversed, too long or unreadable keeps the page: the navigation, the form
    // with the days as typed and why beside them, over the default window's figures.
    for (from, to, why) in [
        (
            "2026-11-20",
            "2026-11-10",
            "pick a first day on or before the last",
        ),
        ("2026-01-01", "2026-03-01", "at most 31 days apart"),
        ("2026-13-45", "", "is not a day"),
    ] {
        let refused = viewer
            .get(&format!(
                "/app/analytics?server={server}&from={from}&to={to}"
            ))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{from}..{to}"
        );
        let body = &refused.body;
        assert!(body.contains(why), "{why}: {body}");
        assert!(body.contains("id=\"range-error\" role=\"alert\""), "{body}");
        assert!(
            body.contains(&format!("name=\"from\" type=\"date\" value=\"{from}\"")),
            "{body}"
        );
        assert!(
            body.contains(&format!("name=\"to\" type=\"date\" value=\"{to}\"")),
            "{body}"
        );
        assert!(body.contains("<nav"), "the navigation stays: {body}");
        assert!(
            body.contains(&format!("<option value=\"{server}\" selected>")),
            "{body}"
        );
        assert_eq!(
            sums(&table_rows(body, "calls-table")),
            (4, 1),
            "the last 7 days"
        );
    }

    // The overview counts the same calls for the last 24 hours.
    let overview = viewer.get("/app").await.ok().to_owned();
    for figure in [
        "<div class=\"figure\">4</div><a href=\"/app/analytics\">tool calls in 24 h</a>",
        "<div class=\"figure\">1</div><a href=\"/app/analytics\">failed calls in 24 h</a>",
    ] {
        assert!(overview.contains(figure), "{figure} in {overview}");
    }
}

async fn the_funnel_and_the_end_user_page_place_each_person(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (_, walkthrough) = two_people_on_a_walkthrough(&app.app, &app.tenant).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;

    let funnel = format!("/app/analytics/funnel/{}", walkthrough.id);
    let body = editor.get(&funnel).await.ok().to_owned();
    let funnel_body = body.clone();
    let steps = table_rows(&body, "funnel-table");
    // #, step, reached, lost since the step before, completed, stopped here
    assert_eq!(
        steps[0][1..],
        [
            "Step 1 (edit step)",
            "2",
            "0 (0.0%)",
            "1",
            "1 (who stopped at step 1)"
        ]
    );
    assert_eq!(
        steps[1][1..],
        [
            "Step 2 (edit step)",
            "1",
            "1 (50.0%)",
            "0",
            "1 (who stopped at step 2)"
        ]
    );
    assert_eq!(
        steps[2][1..],
        ["Step 3 (edit step)", "0", "1 (100.0%)", "0", "0"]
    );
    for step in &walkthrough.step_ids {
        let editor_link = format!("href=\"/app/walkthroughs/{}/steps/{step}\"", walkthrough.id);
        assert!(body.contains(&editor_link), "{editor_link} in {body}");
    }
    assert!(body.contains("<title id=\"funnel-chart-title\">People per step</title>"));
    assert!(body.contains("role=\"img\""));
    assert!(body.contains("2 reached"), "bars name their values");

    // The list finds a person by tracking id; their page shows where they are.
    let list = editor
        .get("/app/end-users?tracking_id=ada-laptop")
        .await
        .ok()
        .to_owned();
    assert!(!list.contains("bob-desktop"), "{list}");
    // Her row counts her three calls (stateless era: no session).
    let rows = table_rows(&list, "end-users");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][2..4], ["0", "3"], "sessions, calls: {rows:?}");
    let ada = id_after(&list, "href=\"/app/end-users/", "msu_");
    let body = editor
        .get(&format!("/app/end-users/{ada}"))
        .await
        .ok()
        .to_owned();
    assert!(body.contains("Step 2 of 3: Step 2"), "{body}");
    // The funnel's "stopped here" names who: Ada, at step 2, linked to her page.
    let stuck = format!(
        "/app/analytics/funnel/{}/stuck?step={}",
        walkthrough.id, walkthrough.step_ids[1]
    );
    assert!(
        funnel_body.contains(&format!("href=\"{stuck}&amp;days=0\"")),
        "{funnel_body}"
    );
    let named = editor.get(&format!("{stuck}&days=0")).await.ok().to_owned();
    assert_eq!(table_rows(&named, "stuck-table").len(), 1, "{named}");
    assert!(
        named.contains(&format!("href=\"/app/end-users/{ada}#progress\"")),
        "{named}"
    );
    assert!(named.contains("Stuck at step 2: Step 2"), "{named}");
    let for_a_day = editor.get(&format!("{stuck}&days=1")).await.ok().to_owned();
    assert!(for_a_day.contains("id=\"nobody-stuck\""), "{for_a_day}");
    let step_link = format!(
        "/app/walkthroughs/{}/steps/{}",
        walkthrough.id, walkthrough.step_ids[1]
    );
    assert!(body.contains(&step_link), "{body}");
    assert!(body.contains("1 of 3"), "one step done");
    for tool in [
        "select_walkthrough",
        "next_walkthrough_step",
        "get_walkthrough_status",
    ] {
        assert!(
            body.contains(&format!("<code>{tool}</code>")),
            "{tool} in {body}"
        );
    }
    assert!(
        body.contains("badge danger\">error"),
        "the failed call is marked in words"
    );
    let everyone = editor.get("/app/end-users").await.ok().to_owned();
    let people = everyone.matches("<a href=\"/app/end-users/msu_").count();
    assert_eq!(people, 2, "{everyone}");
    // Tracking ids are bearers of progress: an editor does not see them.
    assert!(!everyone.contains("ada-laptop") && !everyone.contains("bob-desktop"));

    // A walkthrough never published has no funnel yet, and the page says so.
    let org = app.tenant.org.clone();
    let draft = CreateWalkthrough {
        title: "Draft".into(),
        description: None,
        tags: None,
        estimated_duration_minutes: None,
        metadata: None,
    };
    let draft = authoring::create(
        &app.app.app.platform,
        &crate::helpers::operator(&org),
        draft,
        None,
    )
    .await
    .unwrap();
    let page = editor
        .get(&format!("/app/analytics/funnel/{}", draft.id))
        .await;
    assert!(page.ok().contains("never been published"), "{}", page.body);
}

async fn another_organizations_analytics_are_not_found(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let other = app.app.create_tenant("Globex").await;
    let (their_server, their_walkthrough) = two_people_on_a_walkthrough(&app.app, &other).await;
    let (_, people) = app.app.get("/end-users", &other.key).await;
    let their_person = people["items"][0]["id"].as_str().unwrap().to_owned();
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    // Ours, never published: its funnel page has no funnel to filter, and still does not
    // take their server.
    let draft = CreateWalkthrough {
        title: "Ours".into(),
        description: None,
        tags: None,
        estimated_duration_minutes: None,
        metadata: None,
    };
    let org = app.tenant.org.clone();
    let ours = authoring::create(
        &app.app.app.platform,
        &crate::helpers::operator(&org),
        draft,
        None,
    )
    .await
    .unwrap();
    let our_funnel = format!("/app/analytics/funnel/{}", ours.id);
    owner.get(&our_funnel).await.ok();

    for path in [
        format!("{our_funnel}?server={their_server}"),
        format!("/app/analytics/funnel/{}", their_walkthrough.id),
        format!("/app/end-users/{their_person}"),
        format!("/app/analytics?server={their_server}"),
        "/app/analytics/funnel/wt_nonsense".to_owned(),
        "/app/end-users/not-an-id".to_owned(),
    ] {
        let page = owner.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    // Their calls are not counted in ours, nor their people listed.
    let body = owner.get("/app/analytics").await.body;
    assert_eq!(sums(&table_rows(&body, "calls-table")), (0, 0));
    assert!(
        !owner
            .get("/app/end-users")
            .await
            .body
            .contains("ada-laptop")
    );
}

backend_tests!(
    analytics_show_the_calls_that_were_made,
    the_funnel_and_the_end_user_page_place_each_person,
    another_organizations_analytics_are_not_found,
);
