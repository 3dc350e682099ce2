use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;
use super::guard::RecordGuard;
use crate::record::Outcome;

pin_project! {
    /// The response future of [`PrivlogService`](crate::PrivlogService).
    ///
    /// If it is dropped before the inner future finishes (client gone,
    /// timeout, cancellation, panic), the record is emitted as `aborted`
    /// (`error` while panicking).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RecordGuard>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, guard: RecordGuard) -> Self {
        ResponseFuture {
            inner,
            guard: Some(guard),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.inner.poll(cx)) {
            Ok(mut res) => {
                let mut guard = this.guard.take();
                if let Some(g) = guard.as_mut() {
                    g.on_head(&mut res);
                }
                Poll::Ready(Ok(res.map(|b| ResponseBody::new(b, guard))))
            }
            Err(e) => {
                if let Some(mut g) = this.guard.take() {
                    g.finish(Outcome::Error);
                }
                Poll::Ready(Err(e))
            }
        }
    }
}
