//! Developers' tools. A webhook is an HTTP POST of JSON
//! `{tool, conversation_id, customer_id, idempotency_key, flow, step, arguments}` with the
//! headers `X-Parla-Signature: sha256=<hex HMAC-SHA256 of the body>` (key from the environment
//! variable the flow names) and `Idempotency-Key`; the answer is a JSON object whose values
//! become facts. A gRPC tool implements `parla.v1.ToolService.Call`. Both are retried with
//! exponential backoff on timeouts, connection errors and 5xx / UNAVAILABLE, with the same
//! idempotency key and the same body; other failures are not retried. An answer that is not a
//! JSON object, or lacks a key the flow declares under `returns`, is a failure: the flow acts
//! on nothing it returned. Which failures may follow work the tool did (a timeout after
//! sending, a cut connection, a 5xx, an unreadable answer) is [`ToolError::may_have_acted`];
//! once one attempt ended so, the call's outcome is unknown whatever later attempts give.

use std::collections::BTreeMap;
use std::time::Duration;

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

/// Remembers the first error after which the tool may have acted.
fn note(unconfirmed: &mut Option<ToolError>, error: &ToolError) {
    if unconfirmed.is_none() && error.may_have_acted() {
        *unconfirmed = Some(error.clone());
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
        return Attempts {
            result: Err(ToolError::NotConfigured(format!(
                "tool `{}`: environment variable {} (its signing key) is not set",
                call.tool,
                spec.secret_env.as_deref().unwrap_or("")
            ))),
            count: 0,
            unconfirmed: None,
        };
    }
    let sig = signature(secret.as_bytes(), &body);
    let mut attempts = 0;
    let mut unconfirmed = None;
    loop {
        attempts += 1;
        let sent = client
            .post(&spec.url)
            .timeout(Duration::from_millis(spec.timeout_ms))
            .header("content-type", "application/json")
            .header("x-parla-signature", &sig)
            .header("idempotency-key", &call.idempotency_key)
            .header("x-parla-attempt", attempts.to_string())
            .body(body.clone())
            .send()
            .await;
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
        if !retryable || attempts > spec.retries {
            return Attempts {
                result: Err(error),
                count: attempts,
                unconfirmed,
            };
        }
        note(&mut unconfirmed, &error);
        let backoff = spec.backoff_ms.saturating_mul(1 << (attempts - 1).min(10));
        tokio::time::sleep(Duration::from_millis(backoff)).await;
    }
}

/// Calls a `parla.v1.ToolService`.
pub(crate) async fn grpc(spec: &ToolSpec, call: &ToolCall, cx: &CallContext<'_>) -> Attempts {
    let endpoint = match tonic::transport::Endpoint::from_shared(spec.url.clone()) {
        Ok(e) => e
            .timeout(Duration::from_millis(spec.timeout_ms))
            .connect_timeout(Duration::from_millis(spec.timeout_ms)),
        Err(e) => {
            return Attempts {
                result: Err(ToolError::NotConfigured(e.to_string())),
                count: 0,
                unconfirmed: None,
            }
        }
    };
    let mut client = pb::tool_service_client::ToolServiceClient::new(endpoint.connect_lazy());
    let request = pb::ToolCallRequest {
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
        let error = match client.call(request.clone()).await {
            Ok(r) => {
                let result: BTreeMap<String, String> = r.into_inner().result.into_iter().collect();
                return Attempts {
                    result: check_returns(spec, result),
                    count: attempts,
                    unconfirmed,
                };
            }
            Err(s) => ToolError::from_status(&s, Some(spec.timeout_ms), |code, message| {
                ToolError::Grpc { code, message }
            }),
        };
        let retryable = match &error {
            ToolError::Unreachable(_) | ToolError::Timeout(_) => true,
            ToolError::Grpc { code, .. } => {
                matches!(
                    code,
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
                )
            }
            _ => false,
        };
        tracing::warn!(tool = %call.tool, attempt = attempts, error = %error, retryable, "grpc tool attempt failed");
        if !retryable || attempts > spec.retries {
            return Attempts {
                result: Err(error),
                count: attempts,
                unconfirmed,
            };
        }
        note(&mut unconfirmed, &error);
        let backoff = spec.backoff_ms.saturating_mul(1 << (attempts - 1).min(10));
        tokio::time::sleep(Duration::from_millis(backoff)).await;
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
