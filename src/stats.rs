//! Run-wide counters and the end-of-run summary. (In progress.)
