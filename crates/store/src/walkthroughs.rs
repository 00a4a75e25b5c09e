//! The walkthrough half of the store: authoring (walkthroughs, draft steps as a linked
//! list, published versions), assignments, and per-user progress.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// A new walkthrough, with the key that content-as-code imports find it again by.
#[derive(Debug, Clone)]
pub struct NewWalkthrough {
    pub fields: WalkthroughFields,
    pub external_key: Option<String>,
}

/// Who is progressing where: an end user on a server, through a walkthrough.
#[derive(Debug, Clone)]
pub struct ProgressKey {
    pub org_id: OrgId,
    pub end_user_id: EndUserId,
    pub server_id: ServerId,
    pub walkthrough_id: WalkthroughId,
}

/// A published version as its history lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    pub version: i64,
    pub published_at: Timestamp,
    pub step_count: i64,
    /// The people (end users) whose unfinished progress is pinned to this version; those
    /// who completed it are no longer on it.
    pub people: i64,
}

/// A walkthrough's draft steps (in no particular order: `next_step_id` links them) and
/// the version it last published, if any.
#[derive(Debug, Clone)]
pub struct DraftBesidePublished {
    pub walkthrough_id: WalkthroughId,
    pub steps: Vec<Step>,
    pub published: Option<WalkthroughVersion>,
}

#[async_trait]
pub trait WalkthroughStore: Send + Sync {
    async fn create_walkthrough(&self, org: &OrgId, new: &NewWalkthrough) -> Result<Walkthrough>;
    async fn get_walkthrough(&self, org: &OrgId, id: &WalkthroughId) -> Result<Walkthrough>;
    async fn find_walkthrough_by_key(
        &self,
        org: &OrgId,
        external_key: &str,
    ) -> Result<Option<Walkthrough>>;
    async fn list_walkthroughs(&self, org: &OrgId, page: &PageRequest)
    -> Result<Page<Walkthrough>>;
    /// Writes every field; with `read_at` (the `updated_at` the fields were merged over),
    /// only if no other write came since (a publish, a step), else `Changed`.
    async fn update_walkthrough(
        &self,
        org: &OrgId,
        id: &WalkthroughId,
        fields: &WalkthroughFields,
        read_at: Option<Timestamp>,
    ) -> Result<Walkthrough>;
    async fn delete_walkthrough(&self, org: &OrgId, id: &WalkthroughId) -> Result<()>;

    /// The draft steps in order, read in one recursive query.
    async fn list_steps(&self, org: &OrgId, walkthrough: &WalkthroughId) -> Result<Vec<Step>>;
    /// Adds a step; the list stays whole (one transaction).
    async fn add_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        fields: &StepFields,
        at: &StepPlacement,
    ) -> Result<Step>;
    /// Changes the fields `changes` names (only those) and/or moves the step; the list
    /// stays whole (one transaction).
    async fn update_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StepId,
        changes: &StepChanges,
        move_to: Option<&StepPlacement>,
    ) -> Result<Step>;
    async fn delete_step(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StepId,
    ) -> Result<()>;

    /// Snapshots the ordered draft steps as version n+1 and marks the walkthrough published.
    async fn publish_walkthrough(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<WalkthroughVersion>;
    /// Publishes the title and steps of the published version `from` again, as version
    /// n+1; the draft is left as it is. `NotFound` when there is no such version.
    async fn republish_version(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        from: i64,
    ) -> Result<WalkthroughVersion>;
    async fn get_version(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        version: i64,
    ) -> Result<WalkthroughVersion>;

    /// Assigns (or updates the assignment of) a walkthrough to a server of the same
    /// organization; `NotFound` when either is not the organization's.
    async fn assign_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        walkthrough: &WalkthroughId,
        display_order: Option<i64>,
        is_enabled: Option<bool>,
    ) -> Result<Assignment>;
    async fn unassign_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        walkthrough: &WalkthroughId,
    ) -> Result<()>;
    async fn list_assignments(&self, org: &OrgId, server: &ServerId) -> Result<Vec<Assignment>>;
    /// The servers a walkthrough is assigned to (to notify them of changes).
    async fn servers_of_walkthrough(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<Vec<ServerId>>;

    /// What end users of a server can see, by display order then title, each with its
    /// newest version: one query.
    async fn available_walkthroughs(
        &self,
        org: &OrgId,
        server: &ServerId,
    ) -> Result<Vec<AvailableWalkthrough>>;
    async fn available_walkthrough(
        &self,
        org: &OrgId,
        server: &ServerId,
        walkthrough: &WalkthroughId,
    ) -> Result<Option<AvailableWalkthrough>>;
    /// Whether the server offers at least one walkthrough (the tools' availability rule).
    async fn has_available_walkthroughs(&self, org: &OrgId, server: &ServerId) -> Result<bool>;

    async fn get_progress(&self, key: &ProgressKey) -> Result<Option<Progress>>;
    /// The caller's progress on a server, most recently active first.
    async fn list_progress(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
        server: &ServerId,
    ) -> Result<Vec<Progress>>;
    /// The person's progress on every server, most recently active first, at most `limit`.
    async fn list_progress_of_end_user(
        &self,
        org: &OrgId,
        end_user: &EndUserId,
        limit: u32,
    ) -> Result<Vec<Progress>>;
    /// Creates progress unless some exists; returns what is stored either way.
    async fn start_progress(&self, key: &ProgressKey, state: &ProgressState) -> Result<Progress>;
    /// Replaces any progress with `state` (a restart).
    async fn restart_progress(&self, key: &ProgressKey, state: &ProgressState) -> Result<Progress>;
    /// Writes `state` only if the progress is still at `revision`; `None` if another
    /// write came first.
    async fn update_progress(
        &self,
        org: &OrgId,
        id: &ProgressId,
        revision: i64,
        state: &ProgressState,
    ) -> Result<Option<Progress>>;
    /// Marks the caller's progress as their most recently active (a resume) and returns
    /// it, its state and revision unchanged: one statement. `None` when there is none.
    async fn resume_progress(&self, key: &ProgressKey) -> Result<Option<Progress>>;
    async fn delete_progress(&self, key: &ProgressKey) -> Result<bool>;
}

/// What the dashboard's walkthrough editor reads and writes beyond authoring: draft step
/// counts for the list, version history with the people pinned to each version, step
/// saves checked against a revision, and a walkthrough's assignments.
#[async_trait]
pub trait WalkthroughEditorStore: Send + Sync {
    /// The draft steps and the published version of each of these walkthroughs (at most
    /// 200 ids), for the list to count steps and see unpublished edits: one statement
    /// whatever their number. A walkthrough with neither is left out.
    async fn drafts_beside_published(
        &self,
        org: &OrgId,
        walkthroughs: &[WalkthroughId],
    ) -> Result<Vec<DraftBesidePublished>>;
    /// How many draft steps each of these walkthroughs has (at most 200 ids; one query);
    /// a walkthrough without steps is left out.
    async fn draft_step_counts(
        &self,
        org: &OrgId,
        walkthroughs: &[WalkthroughId],
    ) -> Result<Vec<(WalkthroughId, i64)>>;
    /// The published versions, newest first, at most `limit`, each with the people whose
    /// unfinished progress is pinned to it: one query.
    async fn list_versions(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        limit: u32,
    ) -> Result<Vec<VersionSummary>>;
    /// The people (end users) with unfinished progress on any version of the walkthrough,
    /// each counted once whatever their servers and versions: one query.
    async fn people_with_unfinished_progress(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<i64>;

    /// When a draft step's fields were last written: the revision an editor saves against.
    async fn step_revision(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StepId,
    ) -> Result<Timestamp>;
    /// Writes a step's fields only if they were last written at `revision` (one
    /// conditional statement); `None` when another write came first.
    async fn update_step_at_revision(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
        step: &StepId,
        fields: &StepFields,
        revision: Timestamp,
    ) -> Result<Option<Step>>;

    /// A walkthrough's assignments, by display order then server.
    async fn walkthrough_assignments(
        &self,
        org: &OrgId,
        walkthrough: &WalkthroughId,
    ) -> Result<Vec<Assignment>>;
}
