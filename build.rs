//! Build-time switch for the gateway test suite (`tests/gateway`): `UPKAFKA_TEST_TANSU`, the
//! path of a Tansu broker binary, turns it on (`.ci/run` installs Tansu and sets it). Without
//! it the suite compiles to one test that reports itself ignored, with the reason; it can only
//! be decided at build time because Rust's test harness has no runtime "ignored".

fn main() {
    println!("cargo::rustc-check-cfg=cfg(upkafka_test_broker)");
    println!("cargo::rerun-if-env-changed=UPKAFKA_TEST_TANSU");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("UPKAFKA_TEST_TANSU").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=upkafka_test_broker");
    }
}
