//! The web files `parla serve` hosts next to its gRPC-web API: the chat
//! widget a shop embeds (`/widget.js`) and the agent console (`/console`,
//! `/console.js`). The bundles are built from `web/` with npm (esbuild) and
//! committed under `web/dist/`, so the binary embeds them and serves them
//! from any directory; `gateway.chat.web_dir` serves a fresh build instead.
//!
//! gRPC-web answers plain HTTP/1.1 GETs with 400, so this layer sits in
//! front of it and answers GETs for these paths itself.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use tonic::body::Body;

const WIDGET_JS: &str = include_str!("../../../../web/dist/widget.js");
const CONSOLE_JS: &str = include_str!("../../../../web/dist/console.js");
const CONSOLE_HTML: &str = include_str!("../../../../web/console/index.html");

/// One servable file.
#[derive(Clone)]
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: Bytes,
}

/// The files, loaded once.
#[derive(Clone)]
pub struct WebAssets {
    files: Arc<Vec<Asset>>,
}

impl WebAssets {
    /// The built-in files, or those in `web_dir` when it is set (a missing
    /// file there falls back to the built-in one, with a warning).
    pub fn load(web_dir: &Path) -> Self {
        let pick = |name: &str, builtin: &'static str| -> Bytes {
            if web_dir.as_os_str().is_empty() {
                return Bytes::from_static(builtin.as_bytes());
            }
            match std::fs::read(web_dir.join(name)) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::warn!(file = %web_dir.join(name).display(), error = %e, "web file not readable; serving the built-in copy");
                    Bytes::from_static(builtin.as_bytes())
                }
            }
        };
        let js = "application/javascript; charset=utf-8";
        let html = "text/html; charset=utf-8";
        let files = vec![
            Asset {
                path: "/widget.js",
                content_type: js,
                body: pick("widget.js", WIDGET_JS),
            },
            Asset {
                path: "/console.js",
                content_type: js,
                body: pick("console.js", CONSOLE_JS),
            },
            Asset {
                path: "/console",
                content_type: html,
                body: pick("console.html", CONSOLE_HTML),
            },
        ];
        Self {
            files: Arc::new(files),
        }
    }

    fn find(&self, path: &str) -> Option<&Asset> {
        let path = path.trim_end_matches('/');
        self.files.iter().find(|a| a.path == path)
    }

    fn respond(asset: &Asset, head: bool) -> Response<Body> {
        let body = if head {
            Body::empty()
        } else {
            Body::new(http_body_util::Full::new(asset.body.clone()))
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(asset.content_type),
        );
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            header::HeaderValue::from_static("nosniff"),
        );
        if asset.path == "/console" {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"),
            );
        } else {
            // A shop page on another origin loads the widget with a script tag.
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                header::HeaderValue::from_static("*"),
            );
        }
        *r.status_mut() = StatusCode::OK;
        r
    }
}

/// Tower layer answering GET/HEAD for the web files before gRPC-web.
#[derive(Clone)]
pub struct WebAssetsLayer {
    assets: WebAssets,
}

impl WebAssetsLayer {
    /// A layer serving `assets`.
    pub fn new(assets: WebAssets) -> Self {
        Self { assets }
    }
}

impl<S> tower::Layer<S> for WebAssetsLayer {
    type Service = WebAssetsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebAssetsService {
            inner,
            assets: self.assets.clone(),
        }
    }
}

/// See [`WebAssetsLayer`].
#[derive(Clone)]
pub struct WebAssetsService<S> {
    inner: S,
    assets: WebAssets,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<Request<B>> for WebAssetsService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        if head || req.method() == Method::GET {
            if let Some(asset) = self.assets.find(req.uri().path()) {
                let response = WebAssets::respond(asset, head);
                return Box::pin(async move { Ok(response) });
            }
        }
        Box::pin(self.inner.call(req))
    }
}
