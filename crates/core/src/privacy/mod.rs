//! Privacy: a person's data on request, exported or erased (`personal_data`), and what
//! the platform deletes on its own, and when (`retention`).

pub mod personal_data;
pub mod retention;
