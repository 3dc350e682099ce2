use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::counter::ByteCounter;
use super::guard::RecordGuard;
use crate::record::Outcome;

pin_project! {
    /// The response body of [`PrivlogService`](crate::PrivlogService): the
    /// inner body, unchanged, with its data bytes counted.
    ///
    /// The record is emitted at the last frame, on a body error, or when the
    /// body is dropped (then `aborted`, unless the response had no body to send).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<RecordGuard>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, guard: Option<RecordGuard>) -> Self {
        ResponseBody { inner, guard }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let Some(guard) = this.guard.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        guard.add_resp_bytes(data.remaining());
                    }
                    // Some bodies know they are done only after their last
                    // frame; the server may never poll them again.
                    if this.inner.is_end_stream() {
                        guard.finish(Outcome::Completed);
                    }
                }
                Poll::Ready(Some(Err(_))) => guard.finish(Outcome::Error),
                Poll::Ready(None) => guard.finish(Outcome::Completed),
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The request body handed to the inner service: the original body,
    /// unchanged, with the bytes the service reads counted.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        counter: Option<ByteCounter>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, counter: Option<ByteCounter>) -> Self {
        RequestBody { inner, counter }
    }

    /// The original body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let (Some(counter), Poll::Ready(Some(result))) = (this.counter.as_ref(), &polled) {
            match result {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        counter.add(data.remaining() as u64);
                    }
                }
                Err(_) => counter.fail(),
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
