//! Flow records: the JSON line each finished flow becomes. (In progress.)
