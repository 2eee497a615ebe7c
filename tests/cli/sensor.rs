//! `upkafka sensor produce|monitor` and `upkafka demo` against the real embedded server.

use serde::Deserialize;
use upkafka_server::{Credentials, Password, ServerConfig, TopicSpec};

use crate::common::TestServer;
use crate::util::{PASSWORD, USER, upkafka};

async fn server() -> TestServer {
    TestServer::start(ServerConfig {
        credentials: Some(Credentials {
            username: USER.to_owned(),
            password: Password::new(PASSWORD),
        }),
        topics: vec![
            TopicSpec::new("sensor", 3),
            TopicSpec::new("sensor-errors", 1),
        ],
        ..ServerConfig::default()
    })
    .await
}

fn cmd(server: &TestServer) -> crate::util::Cmd {
    upkafka()
        .env("UPSTASH_KAFKA_REST_URL", &server.url)
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sent {
    reading: Reading,
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
struct Reading {
    device: i64,
    measure: Measure,
    value: i64,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Measure {
    Pressure,
    Temperature,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    status: String,
    device: Option<i64>,
    measure: Option<String>,
    value: Option<i64>,
    reason: Option<String>,
    payload: Option<String>,
    topic: String,
    partition: i32,
    offset: i64,
}

fn expected_status(r: &Reading) -> &'static str {
    let ok = match r.measure {
        Measure::Pressure => (10..=50).contains(&r.value),
        Measure::Temperature => (20..=80).contains(&r.value),
    };
    if ok { "OK" } else { "ERROR" }
}

#[tokio::test]
async fn sensor_readings_are_routed_classified_and_committed() {
    let server = server().await;
    let sent: Vec<Sent> = cmd(&server)
        .args(&[
            "sensor",
            "produce",
            "--topic",
            "sensor",
            "--count",
            "20",
            "--interval",
            "1ms",
            "--seed",
            "11",
            "--output",
            "json",
        ])
        .run()
        .await
        .success()
        .json_lines();
    assert_eq!(sent.len(), 20);
    for s in &sent {
        assert_eq!(s.topic, "sensor");
        assert!(s.timestamp > 0);
        let want = match s.reading.measure {
            Measure::Pressure => 1,
            Measure::Temperature => 2,
        };
        assert_eq!(s.partition, want, "{s:?}");
        assert!((0..=100).contains(&s.reading.device) && (0..=100).contains(&s.reading.value));
    }
    // A payload that is not a reading, on a partition of its own.
    cmd(&server)
        .args(&[
            "produce",
            "sensor",
            "-p",
            "0",
            "--value",
            r#"{"device":1,"measure":"humidity","value":3}"#,
        ])
        .run()
        .await
        .success();

    let verdicts: Vec<Verdict> = cmd(&server)
        .args(&[
            "sensor",
            "monitor",
            "--topic",
            "sensor",
            "-g",
            "ops",
            "-i",
            "m1",
            "--json",
            "-e",
            "--errors-to",
            "sensor-errors",
        ])
        .run()
        .await
        .success()
        .json_lines();
    assert_eq!(verdicts.len(), 21, "{verdicts:?}");
    let invalid: Vec<&Verdict> = verdicts.iter().filter(|v| v.status == "INVALID").collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!((invalid[0].partition, invalid[0].offset), (0, 0));
    assert!(
        invalid[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("humidity")
    );
    assert!(invalid[0].payload.is_some());
    let mut errors = 0;
    for s in &sent {
        let v = verdicts
            .iter()
            .find(|v| v.partition == s.partition && v.offset == s.offset)
            .unwrap_or_else(|| panic!("no verdict for {s:?}"));
        assert_eq!(v.topic, "sensor");
        assert_eq!(v.status, expected_status(&s.reading), "{s:?} -> {v:?}");
        assert_eq!(v.device, Some(s.reading.device));
        assert_eq!(v.value, Some(s.reading.value));
        assert!(v.measure.is_some());
        errors += u64::from(v.status == "ERROR");
    }

    // Committed after printing: the same group starts after everything it already saw.
    cmd(&server)
        .args(&[
            "sensor", "monitor", "--topic", "sensor", "-g", "ops", "-i", "m1", "--json", "-e",
        ])
        .run()
        .await
        .success()
        .stdout_is("");

    // Every ERROR reading was republished.
    let copies = cmd(&server)
        .args(&[
            "fetch",
            "sensor-errors",
            "-p",
            "0",
            "-o",
            "earliest",
            "--json",
        ])
        .run()
        .await
        .success();
    assert_eq!(
        copies.stdout.lines().count() as u64,
        errors,
        "{}",
        copies.stdout
    );
}

#[tokio::test]
async fn monitor_prints_a_summary_with_the_devices_in_error() {
    let server = server().await;
    for value in [
        r#"{"device":7,"measure":"pressure","value":42}"#,
        r#"{"device_id":8,"measure":"pressure","value":51}"#,
        r#"{"device":9,"measure":"temperature","value":19}"#,
        "not json",
    ] {
        cmd(&server)
            .args(&["produce", "sensor", "-p", "1", "--value", value])
            .run()
            .await
            .success();
    }
    let out = cmd(&server)
        .args(&["sensor", "monitor", "-g", "g", "-e"])
        .run()
        .await
        .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("OK") && lines[0].contains("device   7"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("ERROR") && lines[1].contains("device   8"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("ERROR") && lines[2].contains("temperature"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("INVALID") && lines[3].contains("p1@3"),
        "{lines:?}"
    );
    assert!(
        out.stdout.contains("pressure          1      1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("temperature       0      1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(invalid)         -      -        1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("devices in ERROR (2): 8, 9"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn demo_runs_end_to_end_and_exits_zero() {
    let out = upkafka()
        .args(&["demo", "--count", "10", "--interval", "5ms", "--seed", "5"])
        .run()
        .await
        .success();
    let sent = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("sensor  | sent"))
        .count();
    let seen: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("monitor | "))
        .collect();
    assert_eq!(sent, 10, "{}", out.stdout);
    assert_eq!(seen.len(), 10, "{}", out.stdout);
    let errors = seen.iter().filter(|l| l.contains("ERROR")).count();
    assert!(out.stdout.contains("GET /consumers"), "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["monitor", "monitor-1", "sensor", "0,1,2"]),
        "{}",
        out.stdout
    );
    // The summary adds up to what was shown.
    let count = |measure: &str| -> (usize, usize) {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(measure))
            .unwrap_or_else(|| panic!("no {measure} row in {}", out.stdout));
        let cells: Vec<&str> = line.split_whitespace().collect();
        (cells[1].parse().unwrap(), cells[2].parse().unwrap())
    };
    let (p_ok, p_err) = count("pressure ");
    let (t_ok, t_err) = count("temperature ");
    assert_eq!(p_ok + p_err + t_ok + t_err, 10);
    assert_eq!(p_err + t_err, errors);
    assert!(
        out.stdout.contains(&format!(
            "ERROR readings republished to `sensor-errors`: {errors}"
        )),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn demo_refuses_a_zero_count() {
    upkafka()
        .args(&["demo", "--count", "0"])
        .run()
        .await
        .code(2)
        .stderr_has(&["--count must be at least 1"]);
}
