//! The follow-up policy: tier timers, reply and second follow-up deadlines (`policy`), and the
//! board that shows them.

pub mod assign;
pub mod changes;
pub mod contact;
pub mod leads;
pub mod ownership;
pub use crate::time::calendar;
pub mod ooo;
pub mod policy;
pub mod review;
pub mod sweep;
pub mod tags;
