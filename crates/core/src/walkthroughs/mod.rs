//! Interactive walkthroughs: authoring (`authoring`), what end users do
//! (`player`), the funnel report (`funnel`) and who is stuck at a step (`stuck`), and what the dashboard's editor adds: checked
//! step saves and moves (`editing`), version history and the review before publishing
//! (`versions`).

mod audit;
pub mod authoring;
pub mod content;
pub mod editing;
pub mod funnel;
pub mod player;
pub mod stuck;
pub mod versions;
