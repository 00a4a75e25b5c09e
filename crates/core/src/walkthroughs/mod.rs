//! Interactive walkthroughs (SPEC §4): authoring (`authoring`), what end users do
//! (`player`), and the funnel report (`funnel`).

pub mod authoring;
pub mod content;
pub mod funnel;
pub mod player;
