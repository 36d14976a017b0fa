//! keepwarm: true customer follow-up timers and trait suggestions from a sales team's mail and chat.
#![forbid(unsafe_code)]

pub mod account;
pub mod address;
pub mod api;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod crm;
pub mod daemon;
pub mod directory;
pub mod eval;
pub mod events;
pub mod followup;
pub mod httpd;
pub mod message;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod rules;
pub mod source;
pub mod store;
pub mod supervise;
pub mod time;
