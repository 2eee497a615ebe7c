#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rustdoc::broken_intra_doc_links
)]

pub mod cli;
pub mod protocol;
pub mod rest;
pub mod secret;
pub mod sensor;
pub mod server;
