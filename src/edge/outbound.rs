//! Sends webhook deliveries with the platform's `fetch`, each bounded by its timeout: a
//! receiver that is slow or down costs one aborted request.

use crate::registry::webhooks::WebhookSender;
use futures_util::future::{select, Either};
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

pub struct FetchSender;

impl WebhookSender for FetchSender {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str, timeout_ms: u64) -> Result<u16, String> {
        let h = Headers::new();
        for (k, v) in headers {
            h.set(k, v).map_err(|e| e.to_string())?;
        }
        let mut init = RequestInit::new();
        // A receiver answers for itself: a redirect elsewhere is not followed.
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(JsValue::from_str(body)))
            .with_redirect(RequestRedirect::Manual);
        let req = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(req);
        let send = std::pin::pin!(fetch.send_with_signal(&signal));
        let timeout = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
        match select(send, timeout).await {
            Either::Left((Ok(resp), _)) => Ok(resp.status_code()),
            Either::Left((Err(e), _)) => Err(e.to_string()),
            Either::Right(_) => {
                controller.abort();
                Err(format!("no answer within {timeout_ms} ms"))
            }
        }
    }
}
