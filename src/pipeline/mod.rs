//! Replay pipeline: reader thread, sharded workers, outputs. (In progress.)
