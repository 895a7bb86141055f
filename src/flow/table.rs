//! The per-worker flow table. (In progress.)
