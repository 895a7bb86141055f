//! Falco-style connection rules (placeholder while modules land).
pub mod alert;
pub mod fields;
pub mod inventory;
pub mod loader;
pub mod parser;
pub mod yaml;
