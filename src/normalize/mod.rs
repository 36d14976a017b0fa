//! Normalization: raw input → the facts keepwarm needs, as pure functions (no DB, no clock).

pub mod autoreply;
pub mod html;
pub mod mime;
pub mod quote;

pub use autoreply::Class;
pub use mime::{Email, Mailbox, parse_email};
pub mod text;
