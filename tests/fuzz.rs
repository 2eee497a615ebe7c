//! The server against its OpenAPI document, fuzzed by Schemathesis on the embedded log: see
//! `tests/common/fuzz.rs` for what is checked; `tests/gateway` runs the same on the gateway.

#[cfg(upkafka_test_schemathesis)]
#[path = "common/mod.rs"]
mod common;

#[cfg(upkafka_test_schemathesis)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_every_generated_request_as_its_openapi_document_says() {
    common::fuzz::run_schemathesis(common::Backend::Embedded).await;
}

#[cfg(not(upkafka_test_schemathesis))]
#[test]
#[ignore = "needs Schemathesis (UPKAFKA_TEST_SCHEMATHESIS): `cargo xtask test` installs it from PyPI into $HOME/.cache/upkafka and runs this"]
fn the_server_answers_every_generated_request_as_its_openapi_document_says() {}
