//! Command-line definitions (clap). (In progress.)
