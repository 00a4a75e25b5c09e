//! Finding an organization's objects by a few words: its servers (by name or slug),
//! walkthroughs (by title), upstreams and their tools (by name), and people (by their
//! exact email, or, for administrators, their exact tracking id). A handful of bounded
//! statements whatever is typed; each kind lists at most [`HITS_PER_KIND`].

use guidepost_domain::*;
use guidepost_store::EndUserFilter;

use crate::{Caller, CoreError, Permission, Platform};

/// The most hits one kind lists.
pub const HITS_PER_KIND: usize = 20;

/// What matched, by kind, each in its list's order.
#[derive(Debug, Default)]
pub struct Found {
    /// (id, name, slug)
    pub servers: Vec<(ServerId, String, String)>,
    /// (id, title)
    pub walkthroughs: Vec<(WalkthroughId, String)>,
    /// (id, name)
    pub upstreams: Vec<(UpstreamId, String)>,
    /// (upstream id, upstream name, tool name)
    pub tools: Vec<(UpstreamId, String, String)>,
    /// (id, email): the email is what the caller may see of them.
    pub people: Vec<(EndUserId, Option<String>)>,
}

impl Found {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
            && self.walkthroughs.is_empty()
            && self.upstreams.is_empty()
            && self.tools.is_empty()
            && self.people.is_empty()
    }
}

/// The organization's objects that `text` names (case-insensitive, anywhere in a name).
pub async fn search(platform: &Platform, caller: &Caller, text: &str) -> Result<Found, CoreError> {
    validate_text("q", text, Limits::NAME)?;
    let words = text.trim().to_lowercase();
    let org = caller.org();
    let named = |name: &str| name.to_lowercase().contains(&words);
    let servers = platform
        .store
        .list_servers(org, &PageRequest::first(Limits::SERVERS as u32))
        .await?;
    let walkthroughs = all_walkthroughs(platform, org).await?;
    let upstreams = platform.store.list_upstreams(org).await?;
    let tools = platform.store.list_org_upstream_tools(org).await?;
    let upstream_name = |id: &UpstreamId| {
        upstreams
            .iter()
            .find(|u| &u.id == id)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    };
    Ok(Found {
        servers: first(
            servers
                .items
                .into_iter()
                .filter(|s| named(&s.name) || named(s.slug.as_str())),
        )
        .map(|s| (s.id, s.name, s.slug.as_str().to_owned()))
        .collect(),
        walkthroughs: first(walkthroughs.into_iter().filter(|w| named(&w.title)))
            .map(|w| (w.id, w.title))
            .collect(),
        tools: first(
            tools
                .iter()
                .filter(|(_, tool)| tool.kind == DefinitionKind::Tool && named(&tool.name)),
        )
        .map(|(upstream, tool)| (upstream.clone(), upstream_name(upstream), tool.name.clone()))
        .collect(),
        upstreams: first(upstreams.iter().filter(|u| named(&u.name)))
            .map(|u| (u.id.clone(), u.name.clone()))
            .collect(),
        people: people(platform, caller, text.trim()).await?,
    })
}

fn first<T>(hits: impl Iterator<Item = T>) -> impl Iterator<Item = T> {
    hits.take(HITS_PER_KIND)
}

/// Every walkthrough of the organization, a page at a time (at most
/// `Limits::WALKTHROUGHS`, so a bounded number of pages).
async fn all_walkthroughs(platform: &Platform, org: &OrgId) -> Result<Vec<Walkthrough>, CoreError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(Limits::PAGE_SIZE_MAX);
    loop {
        let found = platform.store.list_walkthroughs(org, &page).await?;
        all.extend(found.items);
        match found.next_cursor {
            Some(cursor) if all.len() < Limits::WALKTHROUGHS => {
                page.after = Cursor::decode(&cursor);
                if page.after.is_none() {
                    return Ok(all);
                }
            }
            _ => return Ok(all),
        }
    }
}

/// The people `text` names exactly: by email, or by tracking id for a caller who may see
/// tracking ids (to anyone else a tracking id names nobody).
async fn people(
    platform: &Platform,
    caller: &Caller,
    text: &str,
) -> Result<Vec<(EndUserId, Option<String>)>, CoreError> {
    let filter = if text.contains('@') {
        EndUserFilter {
            email: Some(text.to_lowercase()),
            tracking_id: None,
        }
    } else if caller.may(Permission::Administer) {
        EndUserFilter {
            email: None,
            tracking_id: Some(text.to_owned()),
        }
    } else {
        return Ok(Vec::new());
    };
    let page = PageRequest::first(HITS_PER_KIND as u32);
    let found = platform
        .store
        .list_end_users(caller.org(), &filter, &page)
        .await?;
    Ok(found
        .items
        .into_iter()
        .map(|listed| {
            let email = listed.end_user.email.map(|e| e.as_str().to_owned());
            (listed.end_user.id, email)
        })
        .collect())
}
