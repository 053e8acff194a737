//! `cargo xtask serve`: the page on a loopback port.
//!
//! Three folders and nothing else are reachable: `www/` at `/`, `pkg/` at `/pkg/` and `artifacts/` at
//! `/artifacts/`. tower-http's `ServeDir` resolves paths (it refuses `..` and anything outside its folder)
//! and sets MIME types (`.wasm` as `application/wasm`, so streaming compilation works). Responses say
//! `Cache-Control: no-cache`, so a rebuilt `pkg/` is picked up on reload.

use crate::profile::Profile;
use crate::{root, step, Result};
use axum::http::{header, HeaderValue};
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Same-origin only; `wasm-unsafe-eval` lets the page compile its own wasm, and inline styles are allowed
/// because plotters measures text with a styled `<span>`.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
    connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'";

/// Options of `cargo xtask serve`.
#[derive(Debug)]
pub struct Options {
    pub port: u16,
    pub host: IpAddr,
    /// Build pkg/ first when missing or stale (`--no-build` turns it off, for tests that built it).
    pub build: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            port: 8080,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            build: true,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--port" => {
                    let v = value("--port")?;
                    o.port = v.parse().map_err(|_| format!("--port {v:?} is not a port number"))?;
                }
                "--host" => {
                    let v = value("--host")?;
                    o.host = v
                        .parse()
                        .map_err(|_| format!("--host {v:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"))?;
                }
                "--no-build" => o.build = false,
                other => {
                    return Err(format!(
                        "serve: unknown argument {other:?}; usage: cargo xtask serve [--port 8080] [--host 127.0.0.1] [--no-build]"
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// The router: the three folders, nothing else.
pub fn app() -> Router {
    app_with(&[])
}

/// The router with extra folders mounted (`cargo xtask bench` adds its page and its data); the page's
/// three folders and headers are unchanged.
pub fn app_with(extra: &[(&str, std::path::PathBuf)]) -> Router {
    let r = root();
    extra
        .iter()
        .fold(Router::new(), |router, (at, dir)| {
            router.nest_service(at, ServeDir::new(dir))
        })
        .nest_service("/pkg", ServeDir::new(r.join("pkg")))
        .nest_service("/artifacts", ServeDir::new(r.join("artifacts")))
        .fallback_service(ServeDir::new(r.join("www")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        // The page's promise, enforced by the browser for the page and its worker alike: nothing is
        // fetched from (or sent to) anywhere but this origin.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
}

/// Serve on an ephemeral loopback port from a background thread (for the end-to-end test); returns the
/// address. The thread ends with the process.
pub fn spawn_background() -> Result<SocketAddr> {
    spawn_background_with(Vec::new())
}

/// [`spawn_background`] with extra folders mounted (see [`app_with`]).
pub fn spawn_background_with(extra: Vec<(&'static str, std::path::PathBuf)>) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot listen on a loopback port: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the test server");
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).expect("the test server's socket");
            if let Err(e) = axum::serve(listener, app_with(&extra)).await {
                eprintln!("test server: {e}");
            }
        })
    });
    Ok(addr)
}

pub fn serve(args: &[String]) -> Result {
    let opts = Options::parse(args)?;
    if opts.build {
        step("the wasm package (pkg/)");
        crate::ensure_wasm_tools()?;
        Profile::load()?.ensure_pkg()?;
    }
    let addr = SocketAddr::new(opts.host, opts.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr}: {e} (another server on that port? try --port)")
        })?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        // Printed on stdout, alone on its line: the end-to-end test reads the port from it.
        println!("serving http://{local}/");
        if !opts.host.is_loopback() {
            eprintln!(
                "warning: listening on {} — reachable from other machines",
                opts.host
            );
        }
        eprintln!("www/, pkg/ and artifacts/ only; Ctrl-C stops");
        axum::serve(listener, app())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("server: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.lines().next().unwrap_or("").to_string();
        (status, text)
    }

    #[test]
    fn only_www_pkg_and_artifacts_are_reachable() {
        let addr = spawn_background().unwrap();
        assert!(addr.ip().is_loopback());
        let (status, body) = get(addr, "/");
        assert!(status.contains("200"), "{status}");
        assert!(body.contains("<countscope-replay"), "index.html at /");
        assert!(body
            .to_ascii_lowercase()
            .contains("cache-control: no-cache"));
        let (status, body) = get(addr, "/artifacts/recordings/samples.tsv");
        assert!(
            status.contains("200") && body.contains("room0-30min"),
            "{status}"
        );
        for outside in [
            "/Cargo.toml",
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/artifacts/../Cargo.toml",
            "/artifacts/%2e%2e/Cargo.toml",
            "/src/lib.rs",
            "/www/index.html",
            "/pkg/../Cargo.toml",
        ] {
            let (status, _) = get(addr, outside);
            assert!(
                status.contains("404") || status.contains("400"),
                "{outside}: {status}"
            );
        }
    }

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(
            (o.port, o.host.to_string(), o.build),
            (8080, "127.0.0.1".into(), true)
        );
        let args: Vec<String> = ["--port", "9000", "--host", "0.0.0.0", "--no-build"]
            .map(String::from)
            .to_vec();
        let o = Options::parse(&args).unwrap();
        assert_eq!(
            (o.port, o.host.to_string(), o.build),
            (9000, "0.0.0.0".into(), false)
        );
        assert!(Options::parse(&["--port".into(), "http".into()])
            .unwrap_err()
            .contains("not a port"));
        assert!(Options::parse(&["--port".into()])
            .unwrap_err()
            .contains("needs a value"));
        assert!(Options::parse(&["--open".into()])
            .unwrap_err()
            .contains("unknown argument"));
    }
}
