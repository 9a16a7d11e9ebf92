//! Calls with already-encoded messages, for requests no client library
//! would send (a string that is not UTF-8).

use tonic::transport::Channel;

/// `encoded` with the four bytes `XXXX` (a string field's placeholder)
/// replaced by bytes that are not UTF-8.
pub fn not_utf8(encoded: Vec<u8>) -> Vec<u8> {
    let at = encoded
        .windows(4)
        .position(|w| w == b"XXXX")
        .expect("the message holds the placeholder XXXX");
    let mut bad = encoded;
    bad[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    bad
}

/// Sends one encoded message to the unary method at `path`; the status it
/// ends with (OK when it answered).
pub async fn unary(channel: Channel, path: &'static str, message: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return tonic::Status::unavailable(e.to_string());
    }
    let path = http::uri::PathAndQuery::from_static(path);
    match grpc
        .unary(tonic::Request::new(message), path, RawCodec)
        .await
    {
        Ok(_) => tonic::Status::ok("answered"),
        Err(s) => s,
    }
}

/// Sends encoded messages to the streaming method at `path` and reads the
/// replies; the status the call ends with.
pub async fn streaming(
    channel: Channel,
    path: &'static str,
    messages: &[Vec<u8>],
) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return tonic::Status::unavailable(e.to_string());
    }
    let outbound = tokio_stream::iter(messages.to_vec());
    let path = http::uri::PathAndQuery::from_static(path);
    let call = grpc
        .streaming(tonic::Request::new(outbound), path, RawCodec)
        .await;
    match call {
        Err(s) => s,
        Ok(response) => {
            let mut replies = response.into_inner();
            loop {
                match replies.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return tonic::Status::ok("stream ended without an error"),
                    Err(s) => return s,
                }
            }
        }
    }
}

/// Passes message bytes through unchanged.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}
