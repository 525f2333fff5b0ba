//! `option http-buffer-request`: reading the start of a request body before the server is
//! chosen, bounded by the buffer size; what does not fit is streamed after it.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::http::body::ReqBody;

/// Reads up to `limit` bytes of `body`. Returns the body to forward (the buffered part,
/// then the rest if any) and, when it all fit, the whole body for the rules to see.
/// `Err` when the client's body failed.
pub async fn read_body(mut body: ReqBody, limit: usize) -> Result<(ReqBody, Option<Bytes>), ()> {
    let mut buf = BytesMut::new();
    loop {
        if buf.len() >= limit {
            let head = buf.freeze();
            return Ok((ReqBody::prefixed(head, body), None));
        }
        match body.frame().await {
            None => {
                let whole = buf.freeze();
                return Ok((
                    ReqBody::Full(Some(whole.clone()).filter(|b| !b.is_empty())),
                    Some(whole),
                ));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return Err(()),
        }
    }
}
