//! The `upkafka` binary.
fn main() {}
