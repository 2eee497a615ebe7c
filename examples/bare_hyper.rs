//! The ceiling for `bench/compare.sh`: a bare hyper HTTP/1.1 handler that reads the request
//! body and answers `200 OK` with a short JSON body, on the same Tokio runtime shape as
//! `upkafka serve` (multi-threaded, one worker per core) and with TCP_NODELAY like it.
//!
//! `cargo run --release --example bare_hyper -- 127.0.0.1:9090`

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Body>, Infallible> {
    // Read the body like a real handler must, then answer.
    let _ = axum::body::to_bytes(Body::new(req.into_body()), usize::MAX).await;
    let mut resp = Response::new(Body::from(r#"[{"ok":true}]"#));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .unwrap_or("127.0.0.1:9090".into())
        .parse()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bare_hyper: bad address: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bare_hyper: cannot bind {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!(
        "bare_hyper listening on http://{}",
        listener.local_addr().map_or(addr, |a| a)
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
