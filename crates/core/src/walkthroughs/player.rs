//! What end users do with walkthroughs on a server: list, start or resume, advance,
//! look at their status, reset. Progress is pinned to the version it started on, and
//! every advance is a conditional write, so concurrent calls never skip or lose a step.

use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::ProgressKey;
use thiserror::Error;

use crate::{CoreError, Platform};

/// How many times an advance re-reads after losing a race before giving up.
const MAX_ADVANCE_ATTEMPTS: usize = 100;

#[derive(Debug, Error)]
pub enum PlayerError {
    #[error(
        "Walkthrough {0} is not available on this server. Call list_walkthroughs to see the available ones."
    )]
    NotAvailable(String),
    #[error(
        "You have not started walkthrough {0} on this server. Call select_walkthrough with its walkthrough_id first."
    )]
    NotStarted(String),
    #[error(
        "There is no walkthrough in progress on this server. Call list_walkthroughs, then select_walkthrough to start one."
    )]
    NothingInProgress,
    #[error("Step {claimed} is not your current step{}. Call get_walkthrough_status to see where you are.",
        .expected.as_ref().map(|e| format!(" (your current step is {e})")).unwrap_or_default())]
    NotCurrent {
        claimed: String,
        expected: Option<String>,
    },
    #[error("Too many simultaneous updates to this walkthrough's progress; try again.")]
    Busy,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<guidepost_store::StoreError> for PlayerError {
    fn from(error: guidepost_store::StoreError) -> Self {
        PlayerError::Core(error.into())
    }
}

/// Who plays where.
pub struct Player<'a> {
    pub platform: &'a Platform,
    pub server: &'a McpServer,
    pub end_user: &'a EndUser,
}

/// A walkthrough with the version the caller sees and their progress, if any.
#[derive(Debug, Clone)]
pub struct Seen {
    pub available: AvailableWalkthrough,
    /// The caller's pinned version, or the newest when they have no progress.
    pub version: Arc<WalkthroughVersion>,
    pub progress: Option<Arc<Progress>>,
}

impl Seen {
    pub fn latest_version(&self) -> i64 {
        self.available.latest.version
    }
}

pub struct Advanced {
    pub seen: Seen,
    pub completed_now: bool,
    pub already_completed: bool,
}

/// Whether a server offers the walkthrough tools now: the server's flag is on
/// and at least one enabled assignment has a published version.
pub async fn offered_on(platform: &Platform, server: &McpServer) -> Result<bool, CoreError> {
    if !server.walkthrough_tools_enabled {
        return Ok(false);
    }
    Ok(!offers(platform, server).await?.is_empty())
}

/// The walkthroughs a server offers, in display order, each with its newest version: from
/// this node's cache, which every assignment, publication and status change clears
/// through its announcement (see `cache`).
async fn offers(
    platform: &Platform,
    server: &McpServer,
) -> Result<Arc<Vec<AvailableWalkthrough>>, CoreError> {
    if let Some(offers) = platform.cache.offers(&server.id) {
        return Ok(offers);
    }
    let read_at = platform.cache.epoch();
    let found = platform
        .store
        .available_walkthroughs(&server.org_id, &server.id)
        .await?;
    let offers = Arc::new(found);
    platform.cache.keep_offers(&server.id, &offers, read_at);
    for available in offers.iter() {
        platform.cache.keep_version(&available.latest);
    }
    Ok(offers)
}

/// A published version (immutable, so cached without expiry worries).
pub(crate) async fn version(
    platform: &Platform,
    org: &OrgId,
    walkthrough: &WalkthroughId,
    number: i64,
) -> Result<Arc<WalkthroughVersion>, CoreError> {
    if let Some(found) = platform.cache.version(walkthrough, number) {
        return Ok(found);
    }
    let found = Arc::new(platform.store.get_version(org, walkthrough, number).await?);
    platform.cache.keep_version(&found);
    Ok(found)
}

/// The walkthroughs offered on a server, each with the caller's progress if any and the
/// version it is pinned to (a second query only for progress on an older version).
pub async fn list(
    platform: &Platform,
    server: &McpServer,
    end_user: Option<&EndUser>,
) -> Result<Vec<Seen>, PlayerError> {
    let available = offers(platform, server).await?;
    let mut progress = match end_user {
        Some(user) => {
            platform
                .store
                .list_progress(&server.org_id, &user.id, &server.id)
                .await?
        }
        None => Vec::new(),
    };
    let mut seen = Vec::with_capacity(available.len());
    for available in available.iter().cloned() {
        let mine = progress
            .iter()
            .position(|p| p.walkthrough_id == available.walkthrough.id)
            .map(|i| progress.swap_remove(i));
        let version = match &mine {
            Some(p) if p.version != available.latest.version => {
                version(
                    platform,
                    &server.org_id,
                    &available.walkthrough.id,
                    p.version,
                )
                .await?
            }
            _ => available.latest.clone(),
        };
        seen.push(Seen {
            available,
            version,
            progress: mine.map(Arc::new),
        });
    }
    Ok(seen)
}

impl Player<'_> {
    fn key(&self, walkthrough: &WalkthroughId) -> ProgressKey {
        ProgressKey {
            org_id: self.server.org_id.clone(),
            end_user_id: self.end_user.id.clone(),
            server_id: self.server.id.clone(),
            walkthrough_id: walkthrough.clone(),
        }
    }

    async fn available(
        &self,
        walkthrough: &WalkthroughId,
    ) -> Result<AvailableWalkthrough, PlayerError> {
        offers(self.platform, self.server)
            .await?
            .iter()
            .find(|a| a.walkthrough.id == *walkthrough)
            .cloned()
            .ok_or_else(|| PlayerError::NotAvailable(walkthrough.to_string()))
    }

    /// The version a progress is pinned to; the newest is already at hand.
    async fn pinned(
        &self,
        available: &AvailableWalkthrough,
        progress: Option<&Progress>,
    ) -> Result<Arc<WalkthroughVersion>, PlayerError> {
        match progress {
            Some(p) if p.version != available.latest.version => {
                let id = &available.walkthrough.id;
                Ok(version(self.platform, &self.server.org_id, id, p.version).await?)
            }
            _ => Ok(available.latest.clone()),
        }
    }

    /// Starts at step 1 of the newest version, or resumes (`resume`) where the caller is.
    pub async fn select(
        &self,
        walkthrough: &WalkthroughId,
        resume: bool,
    ) -> Result<(Seen, bool), PlayerError> {
        let available = self.available(walkthrough).await?;
        let key = self.key(walkthrough);
        let start = ProgressState::start(&available.latest);
        // A resume makes this walkthrough the caller's most recently active, the one
        // `next_walkthrough_step` continues without an id.
        let existing = if resume {
            self.platform.store.resume_progress(&key).await?
        } else {
            None
        };
        let (progress, resumed) = match existing {
            Some(progress) => (progress, true),
            None if resume => (
                self.platform.store.start_progress(&key, &start).await?,
                false,
            ),
            None => (
                self.platform.store.restart_progress(&key, &start).await?,
                false,
            ),
        };
        let progress = Arc::new(progress);
        self.platform.cache.keep_progress(&key, &progress);
        let version = self.pinned(&available, Some(&progress)).await?;
        Ok((
            Seen {
                available,
                version,
                progress: Some(progress),
            },
            resumed,
        ))
    }

    /// Completes the current step and moves on (`next_walkthrough_step`).
    pub async fn next(
        &self,
        walkthrough: Option<&WalkthroughId>,
        claimed_step: Option<&str>,
    ) -> Result<Advanced, PlayerError> {
        let (available, listed) = match walkthrough {
            Some(id) => (self.available(id).await?, None),
            None => {
                let (available, progress) = self.default_for_next(claimed_step).await?;
                (available, Some(progress))
            }
        };
        let key = self.key(&available.walkthrough.id);
        let cache = &self.platform.cache;
        // The progress just read to choose the walkthrough, or the one this node last
        // wrote: the write below is conditional on its revision, so a stale copy (another
        // node moved on) only costs a re-read.
        let mut from_cache = listed.is_none();
        let mut progress = match (listed, cache.progress(&key)) {
            (Some(listed), _) => {
                let listed = Arc::new(listed);
                cache.keep_progress(&key, &listed);
                listed
            }
            (None, Some(cached)) => cached,
            (None, None) => {
                from_cache = false;
                self.read_progress(&key).await?
            }
        };
        let mut version = self.pinned(&available, Some(&progress)).await?;
        for _ in 0..MAX_ADVANCE_ATTEMPTS {
            let outcome = advance(&version, &ProgressState::of(&progress), claimed_step);
            if from_cache && !matches!(outcome, Advance::Moved { .. }) {
                // Refuse or report only what the store says, not what this node remembers.
                from_cache = false;
                progress = self.read_progress(&key).await?;
                version = self.pinned(&available, Some(&progress)).await?;
                continue;
            }
            let (state, completed_now) = match outcome {
                Advance::AlreadyDone => {
                    let seen = Seen {
                        available,
                        version,
                        progress: Some(progress),
                    };
                    return Ok(Advanced {
                        seen,
                        completed_now: false,
                        already_completed: true,
                    });
                }
                Advance::NotCurrent { expected } => {
                    return Err(PlayerError::NotCurrent {
                        claimed: claimed_step.unwrap_or_default().to_owned(),
                        expected,
                    });
                }
                Advance::Moved {
                    state,
                    completed_now,
                } => (state, completed_now),
            };
            let store = &self.platform.store;
            match store
                .update_progress(&self.server.org_id, &progress.id, progress.revision, &state)
                .await?
            {
                Some(saved) => {
                    let saved = Arc::new(saved);
                    cache.keep_progress(&key, &saved);
                    let seen = Seen {
                        available,
                        version,
                        progress: Some(saved),
                    };
                    return Ok(Advanced {
                        seen,
                        completed_now,
                        already_completed: false,
                    });
                }
                // Another call wrote first (or a restart replaced the progress): decide
                // again from what is stored.
                None => {
                    from_cache = false;
                    progress = self.read_progress(&key).await?;
                    version = self.pinned(&available, Some(&progress)).await?;
                }
            }
        }
        Err(PlayerError::Busy)
    }

    /// The stored progress; refused as not started when there is none.
    async fn read_progress(&self, key: &ProgressKey) -> Result<Arc<Progress>, PlayerError> {
        let found = self.platform.store.get_progress(key).await?;
        match found {
            Some(progress) => {
                let progress = Arc::new(progress);
                self.platform.cache.keep_progress(key, &progress);
                Ok(progress)
            }
            None => {
                self.platform.cache.forget_progress(key);
                Err(PlayerError::NotStarted(key.walkthrough_id.to_string()))
            }
        }
    }

    /// The walkthrough `next_walkthrough_step` means without an id, with the caller's
    /// progress in it, among those this server still offers (progress on one since
    /// unassigned, disabled or archived is kept but skipped), from one read of the
    /// caller's progress on this server, most recently active first.
    ///
    /// With the step the caller claims to have finished: the walkthrough whose progress
    /// has that step as current or completed, so that retrying the step that completed a
    /// walkthrough returns its present state (idempotent) rather than pointing at
    /// another. Without it, or when no progress knows the step: the most recently active
    /// walkthrough in progress.
    async fn default_for_next(
        &self,
        claimed_step: Option<&str>,
    ) -> Result<(AvailableWalkthrough, Progress), PlayerError> {
        let store = &self.platform.store;
        let mut all = store
            .list_progress(&self.server.org_id, &self.end_user.id, &self.server.id)
            .await?;
        let offered = offers(self.platform, self.server).await?;
        let first_offered = |wanted: &dyn Fn(&Progress) -> bool| {
            all.iter().enumerate().find_map(|(index, p)| {
                let available = offered
                    .iter()
                    .find(|a| wanted(p) && a.walkthrough.id == p.walkthrough_id)?;
                Some((index, available.clone()))
            })
        };
        let knows_claimed = |p: &Progress| {
            claimed_step.is_some_and(|step| {
                p.current_step_id.as_deref() == Some(step)
                    || p.completed_step_ids.iter().any(|done| done == step)
            })
        };
        let in_progress = |p: &Progress| p.status == ProgressStatus::InProgress;
        let (index, available) = first_offered(&knows_claimed)
            .or_else(|| first_offered(&in_progress))
            .ok_or(PlayerError::NothingInProgress)?;
        let progress = all.swap_remove(index);
        Ok((available, progress))
    }

    pub async fn status(&self, walkthrough: &WalkthroughId) -> Result<Seen, PlayerError> {
        let available = self.available(walkthrough).await?;
        let progress = self
            .platform
            .store
            .get_progress(&self.key(walkthrough))
            .await?;
        let version = self.pinned(&available, progress.as_ref()).await?;
        Ok(Seen {
            available,
            version,
            progress: progress.map(Arc::new),
        })
    }

    /// Refuses a walkthrough this server does not offer, as every tool does.
    pub async fn ensure_offered(&self, walkthrough: &WalkthroughId) -> Result<(), PlayerError> {
        self.available(walkthrough).await.map(|_| ())
    }

    /// Deletes the caller's progress; `false` when there was none.
    pub async fn reset(&self, walkthrough: &WalkthroughId) -> Result<bool, PlayerError> {
        self.available(walkthrough).await?;
        let key = self.key(walkthrough);
        self.platform.cache.forget_progress(&key);
        Ok(self.platform.store.delete_progress(&key).await?)
    }
}

/// Progress figures shared by every tool's output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProgressSummary {
    pub status: ProgressStatus,
    pub completed_count: usize,
    pub total_steps: usize,
    pub percent: u32,
    pub current_step_id: Option<String>,
    pub version: i64,
    pub latest_version: i64,
}

pub fn summarize(
    version: &WalkthroughVersion,
    latest_version: i64,
    progress: Option<&Progress>,
) -> ProgressSummary {
    let total_steps = version.steps.len();
    let completed_count = progress
        .map(|p| {
            p.completed_step_ids
                .iter()
                .filter(|id| version.position_of(id).is_some())
                .count()
        })
        .unwrap_or(0);
    let percent = (completed_count * 100)
        .checked_div(total_steps)
        .unwrap_or(0) as u32;
    ProgressSummary {
        status: progress.map_or(ProgressStatus::NotStarted, |p| p.status),
        completed_count,
        total_steps,
        percent,
        current_step_id: progress.and_then(|p| p.current_step_id.clone()),
        version: version.version,
        latest_version,
    }
}
