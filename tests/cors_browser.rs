//! CORS in a real browser (issue 14): headless Chromium opens a page of another origin
//! (another port of 127.0.0.1) whose script produces and fetches with `fetch` and a scoped
//! credential, then follows the topic with an `EventSource` on a token it minted (the README's
//! snippet); a page of an origin the server does not list is refused by the browser.
//! Needs Node.js, npm and Chromium, as `tests/console.rs` (see `tests/common/console.rs`);
//! raw-HTTP tests of the policy are in `tests/server/cors.rs`.

#[cfg(all(upkafka_test_node, upkafka_test_chromium))]
#[path = "common/mod.rs"]
mod common;

#[cfg(all(upkafka_test_node, upkafka_test_chromium))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_a_listed_origin_call_the_api_and_others_are_refused() {
    browser::run().await;
}

#[cfg(not(all(upkafka_test_node, upkafka_test_chromium)))]
#[test]
#[ignore = "needs Node.js, npm and Chromium, not all found when this test was built: `cargo xtask test` installs them and runs it"]
fn pages_of_a_listed_origin_call_the_api_and_others_are_refused() {}

#[cfg(all(upkafka_test_node, upkafka_test_chromium))]
mod browser {
    use std::path::Path;

    use axum::response::Html;
    use serde_json::{Value, json};
    use upkafka_server::{Credentials, ServerConfig, TopicSpec};

    use super::common::console::{chromium, node_ok, npm_ci, run_browser_script};
    use super::common::{JsonBody as _, JsonResponse as _, TestServer, client};

    const USER: &str = "admin";
    const PASS: &str = "cors-test-server-pw";

    /// The test page: its script calls the API at `SETTINGS.api` as a web app would, with
    /// the scoped credential of `SETTINGS`. The server's own credential never reaches it.
    const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>upkafka CORS test page</title></head>
<body><script>
const { api, user, pass } = SETTINGS;
const auth = 'Basic ' + btoa(`${user}:${pass}`);
async function call(path, body) {
  const resp = await fetch(api + path, {
    method: 'POST',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json() };
}
window.runCors = async () => {
  const origin = location.origin;
  try {
    const produced = await call('/produce/web', { value: `hello from ${origin}` });
    const fetched = await call('/fetch', { topic: 'web', partition: 0, offset: 0 });
    const refused = await call('/produce/elsewhere', { value: 'outside the scope' });
    // The README's snippet: a short-lived token, and an EventSource that follows the topic
    // (it cannot set headers, so the token rides in the query of this reading route).
    const minted = await call('/v2/kafka/token', { permissions: 'CONSUME', topic: 'web', expires_in: 60 });
    const streamed = await new Promise((resolve) => {
      const events = new EventSource(`${api}/consume/dash/browser-1/web?token=${encodeURIComponent(minted.body.token)}`);
      const timer = setTimeout(() => { events.close(); resolve({ error: 'no event within 8 s' }); }, 8000);
      events.onopen = () => call('/produce/web', { value: 'followed live' });
      events.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.value !== 'followed live') return;
        clearTimeout(timer);
        events.close();
        resolve({ value: m.value, id: e.lastEventId });
      };
    });
    return { origin, produced, fetched, refused, minted: minted.status, streamed };
  } catch (e) {
    return { origin, error: e.name, message: e.message };
  }
};
</script></body></html>
"#;

    /// A listener on a fresh port of 127.0.0.1, for a page server, and its origin.
    async fn page_listener() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a page server");
        let origin = format!("http://{}", listener.local_addr().expect("its address"));
        (listener, origin)
    }

    /// Serves `html` at `/` on `listener` until the test ends.
    fn serve_page(listener: tokio::net::TcpListener, html: String) {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || std::future::ready(Html(html.clone()))),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    pub async fn run() {
        // Fails at once, naming the missing browser, before anything starts.
        chromium();
        node_ok();
        let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        npm_ci(&browser_dir);

        // Two page servers: the origin of the first is listed, the second's is not. The
        // API's port is a third origin. They serve once the API is up and the page filled in.
        let (allowed_listener, allowed) = page_listener().await;
        let (denied_listener, denied) = page_listener().await;
        let server = TestServer::start(ServerConfig {
            credentials: Some(Credentials::new(USER, PASS)),
            topics: vec![TopicSpec::new("web", 1), TopicSpec::new("elsewhere", 1)],
            cors_origins: vec![allowed.parse().expect("the page's origin")],
            ..ServerConfig::default()
        })
        .await;
        let url = server.url.clone();
        let http = client();

        // A credential for the web app: produce and consume on `web` only.
        let created: Value = http
            .post(format!("{url}/v2/kafka/credential"))
            .basic_auth(USER, Some(PASS))
            .json_body(&json!({"credential_name": "web-app", "cluster_id": "upkafka", "topic": "web", "permissions": "ALL"}))
            .send()
            .await
            .expect("creating the scoped credential")
            .json_value()
            .await
            .expect("its JSON");
        let settings = json!({
            "api": url,
            "user": created["username"],
            "pass": created["password"],
        });
        assert!(settings["pass"].is_string(), "{created}");
        let page = PAGE.replace("SETTINGS", &settings.to_string());
        serve_page(allowed_listener, page.clone());
        serve_page(denied_listener, page);

        let (stdout, stderr) = run_browser_script(
            &browser_dir.join("cors.mjs"),
            &[
                ("ALLOWED_PAGE", &format!("{allowed}/")),
                ("DENIED_PAGE", &format!("{denied}/")),
            ],
        )
        .await;
        let report: Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON report from cors.mjs:\n{stdout}\n{stderr}"));

        // The listed origin's page produced, fetched its message back, and could read the
        // 403 of a topic outside its credential's scope.
        let ok = &report["allowed"];
        assert_eq!(ok["origin"], allowed.as_str(), "{report}");
        assert_eq!(ok["produced"]["status"], 200, "{report}");
        assert_eq!(ok["fetched"]["status"], 200, "{report}");
        let values: Vec<&str> = ok["fetched"]["body"]
            .as_array()
            .unwrap_or_else(|| panic!("fetch answers an array: {report}"))
            .iter()
            .filter_map(|m| m["value"].as_str())
            .collect();
        assert_eq!(values, [format!("hello from {allowed}")], "{report}");
        assert_eq!(ok["refused"]["status"], 403, "{report}");
        assert!(
            ok["refused"]["body"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("elsewhere")),
            "the page reads why: {report}"
        );

        // Its EventSource, on a token it minted, saw the message produced once it was open,
        // with the event id of that record.
        assert_eq!(ok["minted"], 200, "{report}");
        assert_eq!(ok["streamed"]["value"], "followed live", "{report}");
        assert_eq!(ok["streamed"]["id"], "web/0/1", "{report}");

        // The other origin's page: the browser refused at the preflight, so script saw a
        // TypeError, the console says CORS, and its produce never reached the server.
        let no = &report["denied"];
        assert_eq!(no["origin"], denied.as_str(), "{report}");
        assert_eq!(no["error"], "TypeError", "{report}");
        assert!(no.get("produced").is_none(), "{report}");
        let console = report["console"].as_array().expect("console messages");
        assert!(
            console.iter().any(|m| m
                .as_str()
                .is_some_and(|m| m.starts_with("denied:") && m.contains("CORS policy"))),
            "Chromium names CORS as the reason: {report}"
        );
        let stored: Value = http
            .post(format!("{url}/fetch"))
            .basic_auth(USER, Some(PASS))
            .json_body(&json!({"topic": "web", "partition": 0, "offset": 0}))
            .send()
            .await
            .expect("fetching")
            .json_value()
            .await
            .expect("its JSON");
        let stored: Vec<&str> = stored
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            stored,
            [format!("hello from {allowed}").as_str(), "followed live"],
            "only the listed origin's messages"
        );
        server.stop().await;
    }
}
