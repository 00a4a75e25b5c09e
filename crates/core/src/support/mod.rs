//! Support: the requests people open with the `get_support` tool (`requests`), the
//! replies, notes and follow-ups on them (`messages`), and the webhooks that announce
//! them to an organization's own systems (`webhooks`).

pub mod messages;
pub mod requests;
pub mod webhooks;
