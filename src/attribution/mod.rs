//! Attribution: which container is behind each end of a flow.
//!
//! [`docker`] talks to the Docker Engine API (bollard): it connects (negotiating the
//! API version down to what the daemon speaks) and turns `docker inspect` answers
//! into [`ContainerInfo`].  [`live`] keeps the inventory current as containers
//! start, die and change networks, remembering ended leases so a reused IP is
//! attributed by time, and exports it in the JSON format `replay --containers`
//! reads.  [`watcher`] runs the subscribe-then-list loop, with reconnects and
//! backoff, on a thread of its own.

pub mod command;
pub mod docker;
pub mod live;
pub mod netns;
pub mod watcher;

pub use docker::{ContainerInfo, DockerError, NetworkInfo};
pub use live::LiveInventory;
pub use watcher::{WatcherState, WatcherUpdate};
