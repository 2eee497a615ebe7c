//! Binary tests of the `upkafka` CLI against wiremock: the requests sent, the output printed
//! (text and JSON) and the exit codes. One test binary, one module per subcommand.

#[path = "../common/mod.rs"]
mod common;

mod admin_topics;
mod consume;
mod errors;
mod fetch;
mod group;
mod help;
mod inspect;
mod produce;
mod profile;
mod sensor;
mod time;
mod util;
