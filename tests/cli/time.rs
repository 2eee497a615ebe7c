//! Times as starting points: `fetch -o @TIME`, `fetch --until TIME` and `consume --from TIME`,
//! against the real embedded server, on records produced with known timestamps.

use upkafka_client::protocol::ProduceRecord;
use upkafka_client::{Client, Config};
use upkafka_server::{Credentials, Password, ServerConfig, TopicSpec};

use crate::common::{TestServer, install_crypto};
use crate::util::{Cmd, PASSWORD, USER, upkafka};

/// 2023-11-14T22:13:20Z: the first record's timestamp; record `i` is `i` minutes later.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

async fn server() -> TestServer {
    TestServer::start(ServerConfig {
        credentials: Some(Credentials {
            username: USER.to_owned(),
            password: Password::new(PASSWORD),
        }),
        topics: vec![TopicSpec::new("events", 1), TopicSpec::new("clicks", 2)],
        ..ServerConfig::default()
    })
    .await
}

fn cmd(server: &TestServer) -> Cmd {
    upkafka()
        .env("UPSTASH_KAFKA_REST_URL", &server.url)
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD)
}

/// Produces `(partition, value, timestamp)` records to `topic`.
async fn produce(server: &TestServer, topic: &str, records: &[(i32, &str, i64)]) {
    install_crypto();
    let client = Client::new(Config::new(server.url.as_str(), USER, PASSWORD)).unwrap();
    let records: Vec<ProduceRecord> = records
        .iter()
        .map(|(p, v, ts)| {
            ProduceRecord::new(*v)
                .topic(topic)
                .partition(*p)
                .timestamp(*ts)
        })
        .collect();
    client.produce_many(&records).await.unwrap();
}

/// `m0`..`m4` on `events`, one minute apart from [`T0`].
async fn five_minutes(server: &TestServer) {
    let values = ["m0", "m1", "m2", "m3", "m4"];
    let records: Vec<(i32, &str, i64)> = values
        .iter()
        .zip(0..)
        .map(|(v, i)| (0, *v, T0 + i * MINUTE))
        .collect();
    produce(server, "events", &records).await;
}

/// RFC 3339 of epoch milliseconds.
fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

#[tokio::test]
async fn fetch_from_a_time_starts_at_the_first_record_at_or_after_it() {
    let server = server().await;
    five_minutes(&server).await;
    // Exactly m2's time, then a bit before it: both start at m2.
    for at in [rfc3339(T0 + 2 * MINUTE), (T0 + 2 * MINUTE - 1).to_string()] {
        cmd(&server)
            .args(&["fetch", "events", "-o", &format!("@{at}")])
            .run()
            .await
            .success()
            .stdout_is("m2\nm3\nm4\n");
    }
    // With an offset from UTC: 22:14:20Z is m1's time.
    cmd(&server)
        .args(&["fetch", "events", "-o", "@2023-11-15T00:14:20+02:00"])
        .run()
        .await
        .success()
        .stdout_is("m1\nm2\nm3\nm4\n");
    // Past the last record: the end, nothing to print.
    cmd(&server)
        .args(&["fetch", "events", "-o", &format!("@{}", rfc3339(T0 + HOUR))])
        .run()
        .await
        .success()
        .stdout_is("");
}

const HOUR: i64 = 60 * MINUTE;

#[tokio::test]
async fn fetch_until_stops_at_the_first_record_past_the_time() {
    let server = server().await;
    five_minutes(&server).await;
    cmd(&server)
        .args(&["fetch", "events", "-o", &format!("@{}", T0 + MINUTE)])
        .args(&["--until", &rfc3339(T0 + 3 * MINUTE)])
        .args(&["-f", "%T %s\\n"])
        .run()
        .await
        .success()
        .stdout_is(&format!(
            "{} m1\n{} m2\n{} m3\n",
            T0 + MINUTE,
            T0 + 2 * MINUTE,
            T0 + 3 * MINUTE
        ));
    // --until before the first record: nothing.
    cmd(&server)
        .args(&["fetch", "events", "--until", &rfc3339(T0 - 1)])
        .run()
        .await
        .success()
        .stdout_is("");
}

#[tokio::test]
async fn fetch_from_a_duration_ago() {
    let server = server().await;
    let now = jiff::Timestamp::now().as_millisecond();
    produce(
        &server,
        "events",
        &[(0, "two hours ago", now - 2 * HOUR), (0, "just now", now)],
    )
    .await;
    cmd(&server)
        .args(&["fetch", "events", "-o", "@-30m"])
        .run()
        .await
        .success()
        .stdout_is("just now\n");
    cmd(&server)
        .args(&["fetch", "events", "--until", "-1h"])
        .run()
        .await
        .success()
        .stdout_is("two hours ago\n");
}

#[tokio::test]
async fn a_bad_time_names_the_flag_and_the_value() {
    let server = server().await;
    for (flag, value) in [("-o", "@2024-02-31T00:00:00Z"), ("--until", "soon")] {
        let out = cmd(&server)
            .args(&["fetch", "events", flag, value])
            .run()
            .await
            .code(2);
        let value = value.trim_start_matches('@');
        let flag = if flag == "-o" { "--offset" } else { flag };
        out.stderr_has(&[flag, &format!("`{value}`")]);
    }
}

/// Lines of `out`, sorted (partitions interleave in any order).
fn sorted(out: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    lines
}

#[tokio::test]
async fn consume_from_a_time_moves_the_group_to_it_on_every_partition() {
    let server = server().await;
    produce(
        &server,
        "clicks",
        &[
            (0, "p0-a", T0),
            (1, "p1-a", T0 + MINUTE),
            (0, "p0-b", T0 + 2 * MINUTE),
            (1, "p1-b", T0 + 3 * MINUTE),
            (0, "p0-c", T0 + 4 * MINUTE),
        ],
    )
    .await;
    let consume = |extra: &[&str]| {
        cmd(&server)
            .args(&["consume", "clicks", "-g", "readers", "-i", "me", "-e"])
            .args(&["--poll-timeout", "200ms"])
            .args(extra)
    };
    // Everything once: the group's committed offsets are now at the end.
    let out = consume(&["--from", "earliest"]).run().await.success();
    assert_eq!(sorted(&out.stdout).len(), 5, "{}", out.stdout);
    assert_eq!(consume(&[]).run().await.success().stdout, "");

    // Back to T0 + 2 minutes: p0-b, p0-c on partition 0 and p1-b on partition 1.
    let out = consume(&["--from", &rfc3339(T0 + 2 * MINUTE)])
        .run()
        .await
        .success()
        .stderr_has(&["group readers moved to", "clicks:0=1", "clicks:1=1"]);
    assert_eq!(sorted(&out.stdout), ["p0-b", "p0-c", "p1-b"]);
    // What was written is committed as usual: the next run has nothing new.
    assert_eq!(consume(&[]).run().await.success().stdout, "");

    // A time past every record moves the group to the end of each partition.
    let out = consume(&["--from", &rfc3339(T0 + HOUR)])
        .run()
        .await
        .success()
        .stderr_has(&["clicks:0=3", "clicks:1=2"]);
    assert_eq!(out.stdout, "");
    // And a time before them all re-reads everything, through epoch milliseconds.
    let out = consume(&["--from", &(T0 - 1).to_string()])
        .run()
        .await
        .success();
    assert_eq!(
        sorted(&out.stdout),
        ["p0-a", "p0-b", "p0-c", "p1-a", "p1-b"]
    );
}
