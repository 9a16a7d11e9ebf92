//! Developers' tools. A webhook is an HTTP POST of JSON
//! `{tool, conversation_id, customer_id, idempotency_key, flow, step, arguments}` with the
//! headers `X-Parla-Signature: sha256=<hex HMAC-SHA256 of the body>` (key from the environment
//! variable the flow names) and `Idempotency-Key`; the answer is a JSON object whose values
//! become facts. A gRPC tool implements `parla.v1.ToolService.Call` and gets the tool's
//! `timeout_ms` as its deadline (`grpc-timeout`). Either may also get a bearer token
//! (`authorization: Bearer …`) from the variable `token_env` names. Both are retried with
//! exponential backoff on timeouts, connection errors and 5xx / UNAVAILABLE, DEADLINE_EXCEEDED
//! and CANCELLED (what a tonic server answers when the deadline passes), with the same
//! idempotency key and the same body; other failures are not retried. An answer that is not a
//! JSON object, or lacks a key the flow declares under `returns`, is a failure: the flow acts
//! on nothing it returned. Which failures may follow work the tool did (a timeout after
//! sending, a cut connection, a 5xx, an unreadable answer) is [`ToolError::may_have_acted`];
//! once one attempt ended so, the call's outcome is unknown whatever later attempts give.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use parla_proto::v1 as pb;
use sha2::Sha256;

use super::{Attempts, CallContext, ToolError};
use crate::facts::Facts;
use crate::runner::ToolCall;
use crate::spec::ToolSpec;

/// The signature header's value for a body: `sha256=<hex>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON body of a webhook call.
pub fn body(call: &ToolCall, cx: &CallContext<'_>) -> Vec<u8> {
    let value = serde_json::json!({
        "tool": call.tool,
        "conversation_id": cx.conversation_id,
        "customer_id": cx.customer_id,
        "idempotency_key": call.idempotency_key,
        "flow": call.flow,
        "step": call.step,
        "arguments": call.args,
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

fn check_returns(spec: &ToolSpec, result: Facts) -> Result<Facts, ToolError> {
    if let Some(missing) = spec.returns.iter().find(|k| !result.contains_key(*k)) {
        return Err(ToolError::Schema(format!(
            "the answer lacks `{missing}` (declared under `returns`)"
        )));
    }
    Ok(result)
}

/// Converts a JSON answer into facts: an object whose values are scalars (nested values are
/// kept as JSON text).
pub fn parse_answer(bytes: &[u8]) -> Result<Facts, ToolError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ToolError::InvalidJson(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ToolError::Schema("the answer is not a JSON object".into()));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// After failed attempt number `attempts`: the call's end when `error` may not be retried (or
/// the retries are spent); else the error is remembered if the tool may have acted, and the
/// backoff (doubling from `backoff_ms`) is waited before the next attempt.
async fn retry_or_end(
    spec: &ToolSpec,
    attempts: u32,
    retryable: bool,
    error: ToolError,
    unconfirmed: &mut Option<ToolError>,
) -> Option<Attempts> {
    if !retryable || attempts > spec.retries {
        return Some(Attempts {
            result: Err(error),
            count: attempts,
            unconfirmed: unconfirmed.take(),
        });
    }
    note(unconfirmed, &error);
    let backoff = spec.backoff_ms.saturating_mul(1 << (attempts - 1).min(10));
    tokio::time::sleep(Duration::from_millis(backoff)).await;
    None
}

/// Remembers the first error after which the tool may have acted.
fn note(unconfirmed: &mut Option<ToolError>, error: &ToolError) {
    if unconfirmed.is_none() && error.may_have_acted() {
        *unconfirmed = Some(error.clone());
    }
}

/// The bearer token of a tool that declares `token_env`: `Ok(None)` without one, an error (the
/// call is not made) when its variable is unset or empty.
fn bearer(spec: &ToolSpec, tool: &str) -> Result<Option<String>, ToolError> {
    let Some(var) = spec.token_env.as_deref() else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => Ok(Some(format!("Bearer {}", token.trim()))),
        _ => Err(ToolError::NotConfigured(format!(
            "tool `{tool}`: environment variable {var} (its bearer token) is not set"
        ))),
    }
}

/// A call that was not made.
fn not_made(error: ToolError) -> Attempts {
    Attempts {
        result: Err(error),
        count: 0,
        unconfirmed: None,
    }
}

/// Calls a webhook.
pub(crate) async fn webhook(
    client: &reqwest::Client,
    spec: &ToolSpec,
    call: &ToolCall,
    cx: &CallContext<'_>,
) -> Attempts {
    let body = body(call, cx);
    let secret = spec
        .secret_env
        .as_ref()
        .and_then(|k| std::env::var(k).ok())
        .unwrap_or_default();
    if spec.secret_env.is_some() && secret.is_empty() {
        return not_made(ToolError::NotConfigured(format!(
            "tool `{}`: environment variable {} (its signing key) is not set",
            call.tool,
            spec.secret_env.as_deref().unwrap_or("")
        )));
    }
    let token = match bearer(spec, &call.tool) {
        Ok(t) => t,
        Err(e) => return not_made(e),
    };
    let sig = signature(secret.as_bytes(), &body);
    let mut attempts = 0;
    let mut unconfirmed = None;
    loop {
        attempts += 1;
        let mut post = client
            .post(&spec.url)
            .timeout(Duration::from_millis(spec.timeout_ms))
            .header("content-type", "application/json")
            .header("x-parla-signature", &sig)
            .header("idempotency-key", &call.idempotency_key)
            .header("x-parla-attempt", attempts.to_string());
        if let Some(token) = &token {
            post = post.header("authorization", token);
        }
        let sent = post.body(body.clone()).send().await;
        let (error, retryable) = match sent {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) => {
                    return Attempts {
                        result: parse_answer(&b).and_then(|f| check_returns(spec, f)),
                        count: attempts,
                        unconfirmed,
                    }
                }
                Err(e) if e.is_timeout() => (ToolError::Timeout(spec.timeout_ms), true),
                Err(e) => (ToolError::Transport(e.to_string()), true),
            },
            Ok(r) => (
                ToolError::Status(r.status().as_u16()),
                r.status().is_server_error(),
            ),
            Err(e) if e.is_connect() => (ToolError::Unreachable(e.to_string()), true),
            Err(e) if e.is_timeout() => (ToolError::Timeout(spec.timeout_ms), true),
            Err(e) => (ToolError::Transport(e.to_string()), true),
        };
        tracing::warn!(tool = %call.tool, attempt = attempts, error = %error, retryable, "webhook attempt failed");
        if let Some(end) = retry_or_end(spec, attempts, retryable, error, &mut unconfirmed).await {
            return end;
        }
    }
}

/// Calls a `parla.v1.ToolService`. Each attempt carries the deadline `timeout_ms` as
/// `grpc-timeout` (tonic's client gives up at it too) and the bearer token, if any.
pub(crate) async fn grpc(spec: &ToolSpec, call: &ToolCall, cx: &CallContext<'_>) -> Attempts {
    let timeout = Duration::from_millis(spec.timeout_ms);
    let endpoint = match tonic::transport::Endpoint::from_shared(spec.url.clone()) {
        Ok(e) => e.connect_timeout(timeout),
        Err(e) => {
            return not_made(ToolError::NotConfigured(format!(
                "tool `{}`: url `{}`: {e}",
                call.tool, spec.url
            )))
        }
    };
    let token = match bearer(spec, &call.tool).and_then(|t| {
        t.map(|t| {
            t.parse::<tonic::metadata::MetadataValue<_>>().map_err(|_| {
                ToolError::NotConfigured(format!(
                    "tool `{}`: the bearer token in {} is not a valid header value",
                    call.tool,
                    spec.token_env.as_deref().unwrap_or("")
                ))
            })
        })
        .transpose()
    }) {
        Ok(t) => t,
        Err(e) => return not_made(e),
    };
    let mut client = pb::tool_service_client::ToolServiceClient::new(endpoint.connect_lazy());
    let message = pb::ToolCallRequest {
        tool: call.tool.clone(),
        conversation_id: cx.conversation_id.to_owned(),
        customer_id: cx.customer_id.to_owned(),
        idempotency_key: call.idempotency_key.clone(),
        arguments: call.args.clone().into_iter().collect(),
        flow: call.flow.clone(),
        step: call.step.clone(),
    };
    let mut attempts = 0;
    let mut unconfirmed = None;
    loop {
        attempts += 1;
        let mut request = tonic::Request::new(message.clone());
        request.set_timeout(timeout);
        if let Some(token) = &token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        let sent = Instant::now();
        let error = match client.call(request).await {
            Ok(r) => {
                let result: BTreeMap<String, String> = r.into_inner().result.into_iter().collect();
                return Attempts {
                    result: check_returns(spec, result),
                    count: attempts,
                    unconfirmed,
                };
            }
            Err(s) => deadline_hit(
                ToolError::from_status(&s, Some(spec.timeout_ms), |code, message| {
                    ToolError::Grpc { code, message }
                }),
                sent.elapsed() >= timeout,
                spec.timeout_ms,
            ),
        };
        let retryable = grpc_retryable(&error);
        tracing::warn!(tool = %call.tool, attempt = attempts, error = %error, retryable, "grpc tool attempt failed");
        if let Some(end) = retry_or_end(spec, attempts, retryable, error, &mut unconfirmed).await {
            return end;
        }
    }
}

/// A CANCELLED or DEADLINE_EXCEEDED that came once the deadline had passed is the deadline:
/// a tonic server ends a call at its `grpc-timeout` with CANCELLED, other servers with
/// DEADLINE_EXCEEDED.
fn deadline_hit(error: ToolError, past_deadline: bool, timeout_ms: u64) -> ToolError {
    match error {
        ToolError::Grpc {
            code: tonic::Code::Cancelled | tonic::Code::DeadlineExceeded,
            ..
        } if past_deadline => ToolError::Timeout(timeout_ms),
        other => other,
    }
}

/// Attempts of a gRPC tool worth repeating with the same key: no connection, a deadline hit
/// (ours, or the server's: DEADLINE_EXCEEDED, or CANCELLED as tonic answers it), UNAVAILABLE.
fn grpc_retryable(error: &ToolError) -> bool {
    match error {
        ToolError::Unreachable(_) | ToolError::Timeout(_) => true,
        ToolError::Grpc { code, .. } => matches!(
            code,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_deadline_hit_is_retried_and_a_refusal_is_not() {
        let cancelled = || ToolError::Grpc {
            code: tonic::Code::Cancelled,
            message: "Timeout expired".into(),
        };
        assert_eq!(
            deadline_hit(cancelled(), true, 200),
            ToolError::Timeout(200)
        );
        assert_eq!(deadline_hit(cancelled(), false, 200), cancelled());
        for retried in [
            ToolError::Timeout(200),
            ToolError::Unreachable("refused".into()),
            cancelled(),
            ToolError::Grpc {
                code: tonic::Code::DeadlineExceeded,
                message: String::new(),
            },
            ToolError::Grpc {
                code: tonic::Code::Unavailable,
                message: String::new(),
            },
        ] {
            assert!(grpc_retryable(&retried), "{retried}");
        }
        for final_ in [tonic::Code::InvalidArgument, tonic::Code::Internal] {
            let e = ToolError::Grpc {
                code: final_,
                message: String::new(),
            };
            assert!(!grpc_retryable(&e), "{e}");
        }
    }

    #[test]
    fn answers_must_be_objects() {
        assert!(matches!(parse_answer(b"[1]"), Err(ToolError::Schema(_))));
        assert!(matches!(
            parse_answer(b"{oops"),
            Err(ToolError::InvalidJson(_))
        ));
        let f = parse_answer(br#"{"rma_id":"R1","n":2,"ok":true}"#).expect("object");
        assert_eq!(
            (f["rma_id"].as_str(), f["n"].as_str(), f["ok"].as_str()),
            ("R1", "2", "true")
        );
    }
}
