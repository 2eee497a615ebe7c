//! The `upkafka` command line, built on [`crate::rest`].

pub mod serve;
