//! Where messages come from: Maildir folders and mbox files (one-shot imports) and IMAP
//! accounts (the daemon's live source).

pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod oauth;
pub mod utf7;
pub mod whatsapp;
