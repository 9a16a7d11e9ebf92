//! The shared service token: the secret Parla's own services present to
//! each other (`security.service_token`), so that the internal RPCs (the
//! customer record, the dialogue, the hand-off queue's service side, speech)
//! answer only Parla and the developers it was given to.
//!
//! Clients: every channel from one Parla service to another is a
//! [`PeerChannel`], which adds the token to each request when one is
//! configured; there is no other channel type in the services' APIs, so a
//! new peer cannot forget it. The server's check lives with `parla serve`
//! and tells handlers what it found through [`ServiceTokenCheck`].

use std::fmt;
use std::task::{Context, Poll};

use http::HeaderValue;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};

/// The metadata header that carries the token. Not `authorization`: the
/// agent console's sessions use that one.
pub const SERVICE_TOKEN_HEADER: &str = "x-parla-service-token";

/// The setting that holds the token, for messages.
pub const SERVICE_TOKEN_SETTING: &str = "security.service_token";

/// Shortest token accepted (a random token of 32 hex digits is the advice).
pub const MIN_TOKEN_CHARS: usize = 16;

/// A token that cannot be used; the message says why, never the value.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Fewer than [`MIN_TOKEN_CHARS`] characters.
    #[error(
        "is {0} characters long; allowed: at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    /// Not printable ASCII, so it cannot travel in a header.
    #[error("holds characters other than printable ASCII without spaces, so it cannot be sent in the `{SERVICE_TOKEN_HEADER}` header")]
    NotHeaderSafe,
}

/// Which of a token's two settings a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The token itself (`security.service_token`).
    Inline,
    /// The file that holds it (`security.service_token_file`).
    File,
}

/// The shared secret; its `Debug` never shows the value, and it has no
/// `==` (compare with [`ServiceToken::matches`]).
#[derive(Clone)]
pub struct ServiceToken {
    value: HeaderValue,
}

impl ServiceToken {
    /// A token from its text (surrounding whitespace, such as a file's
    /// final newline, is dropped).
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotHeaderSafe);
        }
        if text.len() < MIN_TOKEN_CHARS {
            return Err(TokenError::TooShort(text.len()));
        }
        let mut value = HeaderValue::from_str(text).map_err(|_| TokenError::NotHeaderSafe)?;
        value.set_sensitive(true);
        Ok(Self { value })
    }

    /// Whether `presented` is this token. The bytes are compared without an
    /// early exit, so the time taken does not tell how much of a guess was
    /// right.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.value.as_bytes();
        if presented.len() != expected.len() {
            return false;
        }
        let difference = expected
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }

    /// The token given either inline or in a file (at most one of the two;
    /// a file's surrounding whitespace is dropped); `None` when neither is.
    /// An error names which of the two is wrong, and why.
    pub fn from_setting(
        inline: &str,
        file: Option<&std::path::Path>,
    ) -> Result<Option<Self>, (TokenSource, String)> {
        let (source, text) = match file {
            Some(_) if !inline.is_empty() => {
                return Err((
                    TokenSource::File,
                    "is set and so is the token itself; allowed: one of them".to_owned(),
                ))
            }
            Some(file) => (
                TokenSource::File,
                std::fs::read_to_string(file).map_err(|e| {
                    (
                        TokenSource::File,
                        format!("cannot be read ({}: {e})", file.display()),
                    )
                })?,
            ),
            None if inline.is_empty() => return Ok(None),
            None => (TokenSource::Inline, inline.to_owned()),
        };
        Self::new(&text)
            .map(Some)
            .map_err(|e| (source, e.to_string()))
    }

    /// For tools outside the `parla` command (the benchmarks): the token a
    /// server was given in the environment, `PARLA_SECURITY__SERVICE_TOKEN`
    /// or the file named by `PARLA_SECURITY__SERVICE_TOKEN_FILE`. The error
    /// names the variable.
    pub fn from_env() -> Result<Option<Self>, String> {
        const INLINE: &str = "PARLA_SECURITY__SERVICE_TOKEN";
        const FILE: &str = "PARLA_SECURITY__SERVICE_TOKEN_FILE";
        let inline = std::env::var(INLINE).unwrap_or_default();
        let file = std::env::var_os(FILE).filter(|f| !f.is_empty());
        Self::from_setting(&inline, file.as_deref().map(std::path::Path::new)).map_err(
            |(source, problem)| match source {
                TokenSource::Inline => format!("{INLINE} {problem}"),
                TokenSource::File => format!("{FILE} {problem}"),
            },
        )
    }

    /// The header value (marked sensitive, so HTTP/2 never indexes it).
    pub fn header_value(&self) -> HeaderValue {
        self.value.clone()
    }
}

impl fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceToken(<redacted>)")
    }
}

/// What the server's token check found, left in a request's extensions for
/// the handlers of RPCs that either an agent session or a service may call
/// (`Handoff.ListTickets`, `Handoff.WatchQueue`). Absent when no token is
/// configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceTokenCheck {
    /// The request carried the configured token: one of Parla's services.
    Verified,
    /// The request carried no token; only an agent session can admit it.
    Missing,
}

impl ServiceTokenCheck {
    /// The check recorded on `request`, if the server made one.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<Self> {
        request.extensions().get::<Self>().copied()
    }
}

/// A gRPC channel to another Parla service that presents the service token
/// on every request when one is configured. Clone it freely, like
/// [`Channel`].
#[derive(Clone)]
pub struct PeerChannel {
    channel: Channel,
    token: Option<HeaderValue>,
}

impl PeerChannel {
    /// Wraps `channel`; `token` is `None` when no service token is
    /// configured (requests then go out as they are).
    pub fn new(channel: Channel, token: Option<&ServiceToken>) -> Self {
        Self {
            channel,
            token: token.map(ServiceToken::header_value),
        }
    }

    /// A channel to `url` that connects on first use.
    pub fn lazy(url: &str, token: Option<&ServiceToken>) -> Result<Self, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(url.to_owned())?;
        Ok(Self::new(endpoint.connect_lazy(), token))
    }

    /// A channel to `url`, connected now.
    pub async fn connect(
        url: &str,
        token: Option<&ServiceToken>,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?.connect().await?;
        Ok(Self::new(channel, token))
    }

    /// Whether requests carry a service token.
    pub fn presents_token(&self) -> bool {
        self.token.is_some()
    }
}

impl fmt::Debug for PeerChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerChannel")
            .field("channel", &self.channel)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl tower::Service<http::Request<Body>> for PeerChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(token) = &self.token {
            request
                .headers_mut()
                .insert(SERVICE_TOKEN_HEADER, token.clone());
        }
        tower::Service::call(&mut self.channel, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself() {
        let token = ServiceToken::new("0123456789abcdef0123\n").unwrap();
        assert!(token.matches(b"0123456789abcdef0123"));
        assert!(!token.matches(b"0123456789abcdef0124"));
        assert!(!token.matches(b"0123456789abcdef012"));
        assert!(!token.matches(b""));
    }

    #[test]
    fn short_or_unsendable_tokens_are_refused() {
        assert!(matches!(
            ServiceToken::new("short"),
            Err(TokenError::TooShort(5))
        ));
        assert!(matches!(
            ServiceToken::new("a token with spaces in it"),
            Err(TokenError::NotHeaderSafe)
        ));
        assert!(matches!(
            ServiceToken::new("päßwörd-päßwörd-päßwörd"),
            Err(TokenError::NotHeaderSafe)
        ));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = ServiceToken::new("0123456789abcdef-secret").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
    }
}
