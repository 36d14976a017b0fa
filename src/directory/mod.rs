//! The customer directory: customers, companies, groups and the identities that name them.

pub mod freemail;
pub mod identity;
pub mod import;
