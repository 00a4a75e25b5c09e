//! Support: the requests people open with the `get_support` tool (`requests`), the
//! replies, notes and follow-ups on them (`messages`), and the webhooks that announce
//! them to an organization's own systems (`webhooks`); and the ratings people send with
//! `send_feedback` (`feedback`), shown beside the requests.

pub mod feedback;
pub mod messages;
pub mod requests;
pub mod webhooks;
