//! The documentation's `curl` calls, made with the real `curl` binary against the embedded
//! server: `-u user:pass`, `-d` bodies (form content type), and a trailing `/`.
//!
//! `curl` is required: a machine without it fails this test rather than skipping it.

use std::process::Output;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::{Env, PASS, USER};

/// Runs `curl -sS -w '\n%{http_code}' <args>`; returns (status, JSON body).
async fn curl(args: &[&str]) -> (u16, Value) {
    let out: Output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run `curl` ({e}): install curl (e.g. `apt-get install curl`)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl {args:?} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, code) = stdout
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("no status line in {stdout:?}"));
    let code: u16 = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("status {code:?}"));
    let body: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("curl {args:?}: body is not JSON ({e}): {body:?}"));
    (code, body)
}

#[tokio::test]
async fn the_documented_curl_calls_work() {
    let env = Env::start(&[("greetings", 1), ("cities", 2)]).await;
    let url = &env.server.url;
    let auth = format!("{USER}:{PASS}");

    // P1: produce from the URL; the answer is one object.
    let (code, meta) = curl(&["-u", &auth, &format!("{url}/produce/greetings/hello")]).await;
    assert_eq!(code, 200, "{meta}");
    assert_eq!(meta["topic"], "greetings");
    assert_eq!(meta["partition"], 0);
    assert_eq!(meta["offset"], 0);
    assert!(meta["timestamp"].as_i64().is_some_and(|t| t > 0), "{meta}");

    // The docs' percent-encoded value (space and `/`) comes back decoded.
    let (code, _) = curl(&[
        "-u",
        &auth,
        &format!("{url}/produce/greetings/hello%20there%2Fyou?key=k1"),
    ])
    .await;
    assert_eq!(code, 200);

    // F1 with `-d` (application/x-www-form-urlencoded): the body is still read as JSON.
    let body = r#"{"topic":"greetings","partition":0,"offset":0}"#;
    let (code, msgs) = curl(&["-u", &auth, &format!("{url}/fetch"), "-d", body]).await;
    assert_eq!(code, 200, "{msgs}");
    assert_eq!(
        msgs,
        json!([
            {"topic": "greetings", "partition": 0, "offset": 0, "timestamp": meta["timestamp"],
             "key": "", "value": "hello", "headers": []},
            {"topic": "greetings", "partition": 0, "offset": 1, "timestamp": msgs[1]["timestamp"],
             "key": "k1", "value": "hello there/you", "headers": []}
        ])
    );

    // The fetch how-to calls `/fetch/` with a trailing slash.
    let (code, msgs) = curl(&["-u", &auth, &format!("{url}/fetch/"), "-d", body]).await;
    assert_eq!(code, 200, "{msgs}");
    assert_eq!(msgs.as_array().map(Vec::len), Some(2));

    // P2 with `-d` and an array body.
    let (code, metas) = curl(&[
        "-u",
        &auth,
        &format!("{url}/produce/cities"),
        "-d",
        r#"[{"partition":1,"key":"city","value":"Istanbul","headers":[{"key":"expire","value":"1637745834756"}]},{"value":"Ankara","partition":1}]"#,
    ])
    .await;
    assert_eq!(code, 200, "{metas}");
    assert_eq!(metas[0]["offset"], 0);
    assert_eq!(metas[1]["offset"], 1);

    // M1.
    let (code, topics) = curl(&["-u", &auth, &format!("{url}/topics")]).await;
    assert_eq!(code, 200);
    assert_eq!(topics, json!({"cities": 2, "greetings": 1}));
    let (code, topics) = curl(&["-u", &auth, &format!("{url}/topics/")]).await;
    assert_eq!((code, topics), (200, json!({"cities": 2, "greetings": 1})));

    // Wrong credentials and no credentials: 401 with the JSON error body.
    for args in [
        vec![
            "-u".to_owned(),
            format!("{USER}:wrong"),
            format!("{url}/topics"),
        ],
        vec![format!("{url}/topics")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = curl(&args).await;
        assert_eq!(code, 401, "{err}");
        assert_eq!(err["status"], 401);
        assert!(err["error"].is_string(), "{err}");
    }

    // The consumer how-to: GET consume of one topic with headers and `?timeout=`, GET commit
    // without a body ("what was consumed"), committed and offsets with `-d`, DELETE.
    let (code, msgs) = curl(&[
        "-u",
        &auth,
        "-H",
        "Kafka-Auto-Offset-Reset: earliest",
        "-H",
        "Kafka-Enable-Auto-Commit: false",
        &format!("{url}/consume/mygroup/myconsumer/greetings?timeout=100"),
    ])
    .await;
    assert_eq!(code, 200, "{msgs}");
    assert_eq!(msgs.as_array().map(Vec::len), Some(2), "{msgs}");
    let (code, ok) = curl(&["-u", &auth, &format!("{url}/commit/mygroup/myconsumer")]).await;
    assert_eq!(
        (code, ok),
        (200, json!({"result": "Success", "status": 200}))
    );
    let tp = r#"{"topic":"greetings","partition":0}"#;
    let (code, committed) = curl(&[
        "-u",
        &auth,
        &format!("{url}/committed/mygroup/myconsumer"),
        "-d",
        tp,
    ])
    .await;
    assert_eq!(code, 200, "{committed}");
    assert_eq!(
        committed,
        json!([{"topic": "greetings", "partition": 0, "offset": 2}])
    );
    let (code, latest) = curl(&["-u", &auth, &format!("{url}/offsets/latest"), "-d", tp]).await;
    assert_eq!(code, 200, "{latest}");
    assert_eq!(
        latest,
        json!([{"topic": "greetings", "partition": 0, "offset": 2}])
    );
    let (code, ok) = curl(&[
        "-u",
        &auth,
        "-X",
        "DELETE",
        &format!("{url}/delete-consumer/mygroup/myconsumer"),
    ])
    .await;
    assert_eq!(
        (code, ok),
        (200, json!({"result": "Success", "status": 200}))
    );

    // W1 with credentials in the query, as a webhook sender would call it.
    let (code, meta) = curl(&[
        "-H",
        "X-Event: created",
        &format!(
            "{url}/webhook?topic=greetings&user={USER}&pass={}",
            urlencode(PASS)
        ),
        "-d",
        "raw body",
    ])
    .await;
    assert_eq!(code, 200, "{meta}");
    assert_eq!(meta["topic"], "greetings");
    let offset = meta["offset"].as_i64().unwrap();
    let m = &env.read("greetings", 0, offset).await[0];
    assert_eq!(m.value, "raw body");
    assert_eq!(m.header("x-event"), Some("created"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
