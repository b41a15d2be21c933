//! Benchmark baseline for `bench/run.sh`: a bare axum handler answering `POST /api/week`
//! with a fixed body of the given size (no Booket logic), to compare the real function
//! against in the same run. Built as an example of the server package
//! (`cargo build --release --example baseline`), never part of `booket`.
//!
//!   baseline [--listen 127.0.0.1:4102] [--bytes 8000]

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen: SocketAddr = "127.0.0.1:4102".parse().expect("a valid default");
    let mut bytes = 8000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--listen" => listen = value.parse().expect("--listen takes an address"),
            "--bytes" => bytes = value.parse().expect("--bytes takes a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    let body: &'static str = Box::leak(
        format!("{{\"x\":\"{}\"}}", "a".repeat(bytes.saturating_sub(8))).into_boxed_str(),
    );
    let app = axum::Router::new().route(
        "/api/week",
        axum::routing::post(move || async move { ([("content-type", "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("baseline on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
