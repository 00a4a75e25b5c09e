//! `/app/servers/{id}/clients`: the clients that connect to a server, by the name and
//! version they gave in `initialize`, with their live sessions and when last seen.

use askama::Template;
use axum::extract::State;
use guidepost_core::{hosting::servers, hosting::sessions};
use guidepost_domain::*;

use crate::Dashboard;
use crate::page::{self, Chrome, IdPath, PageResult, Section};
use crate::session::Signed;

#[derive(Template)]
#[template(path = "servers/clients.html")]
struct ClientsPage {
    chrome: Chrome,
    id: String,
    server_name: String,
    clients: Vec<ClientRow>,
}

struct ClientRow {
    name: String,
    version: String,
    sessions: u64,
    last_seen: String,
}

/// `GET /app/servers/{id}/clients`.
pub(crate) async fn list(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<ServerId>,
) -> PageResult {
    let caller = signed.caller();
    let server = servers::get(&app.platform, caller, &id).await?;
    let clients = sessions::clients_of_server(&app.platform, caller, &id).await?;
    let title = format!("Clients of {}", server.name);
    let chrome = Chrome::new(&app, &signed, title, Section::Servers, None).await?;
    let clients = clients
        .into_iter()
        .map(|client| ClientRow {
            name: client.name.unwrap_or_else(|| "(no name given)".into()),
            version: client.version.unwrap_or_default(),
            sessions: client.sessions,
            last_seen: {
                let text = client.last_seen_at.to_rfc3339();
                format!("{} {} UTC", &text[..10], &text[11..16])
            },
        })
        .collect();
    Ok(page::render(&ClientsPage {
        chrome,
        id: id.to_string(),
        server_name: server.name,
        clients,
    }))
}
