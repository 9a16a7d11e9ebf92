//! Requests the server cannot decode, on every service: a unary (or
//! server-streaming) request whose message is not valid Protobuf, such as a
//! string field that is not UTF-8, fails in tonic's codec before any handler
//! runs, with INTERNAL. This layer turns that answer into INVALID_ARGUMENT
//! naming the cause ([`parla_proto::undecodable`]) and logs the method, so
//! the client learns it sent something wrong and the operator sees it.
//!
//! Such a failure is a trailers-only response: the status is in the headers,
//! where the layer reads it. A client stream's later messages fail inside
//! the handler instead, which maps them itself (`Dialogue.Converse`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};

/// Tower layer mapping undecodable requests to INVALID_ARGUMENT.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnreadableLayer;

impl<S> tower::Layer<S> for UnreadableLayer {
    type Service = Unreadable<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Unreadable { inner }
    }
}

/// See [`UnreadableLayer`].
#[derive(Clone, Debug)]
pub struct Unreadable<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<Request<B>> for Unreadable<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Kept for the log line; a `Uri` clone shares its bytes.
        let uri = req.uri().clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut response = answer.await?;
            reclassify(uri.path(), &mut response);
            Ok(response)
        })
    }
}

/// Rewrites the status of a trailers-only `response` whose request could
/// not be decoded.
fn reclassify<R>(method: &str, response: &mut Response<R>) {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return;
    };
    let Some(invalid) = parla_proto::undecodable(&status) else {
        return;
    };
    tracing::info!(method, error = %status.message(), "unreadable request message");
    if invalid.add_header(response.headers_mut()).is_err() {
        tracing::warn!(
            method,
            "could not rewrite the status of an unreadable request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, ServiceExt};

    /// A service answering every request with `status`, trailers-only.
    fn answering(
        status: tonic::Status,
    ) -> impl tower::Service<
        Request<()>,
        Response = Response<()>,
        Error = std::convert::Infallible,
        Future = impl Send + 'static,
    > + Clone {
        tower::service_fn(move |_req: Request<()>| {
            let status = status.clone();
            async move { Ok::<_, std::convert::Infallible>(status.into_http::<()>()) }
        })
    }

    async fn status_after_layer(status: tonic::Status) -> tonic::Status {
        let service = UnreadableLayer.layer(answering(status));
        let request = Request::post("/parla.v1.Chat/Send").body(()).unwrap();
        let response = service.oneshot(request).await.unwrap();
        tonic::Status::from_header_map(response.headers()).expect("a status")
    }

    #[tokio::test]
    async fn a_decode_failure_becomes_invalid_argument_naming_the_cause() {
        let decode = tonic::Status::internal(
            "failed to decode Protobuf message: ChatSendRequest.text: invalid string value: data is not UTF-8 encoded",
        );
        let status = status_after_layer(decode).await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("ChatSendRequest.text"),
            "{status:?}"
        );
        assert!(status.message().contains("UTF-8"), "{status:?}");
    }

    #[tokio::test]
    async fn other_failures_pass_unchanged() {
        let internal = tonic::Status::internal("the store is gone");
        let status = status_after_layer(internal).await;
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "the store is gone");
        let missing = status_after_layer(tonic::Status::not_found("no such ticket")).await;
        assert_eq!(missing.code(), tonic::Code::NotFound);
    }
}
