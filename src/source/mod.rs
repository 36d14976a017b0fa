//! Sources: where messages come from. Each turns its input into `Inbound`s for the pipeline.

pub mod maildir;
pub mod mbox;
