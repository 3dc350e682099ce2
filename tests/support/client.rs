//! One request on a fresh connection with hyper's client, over HTTP/1.1 or
//! HTTP/2, and the request builders the tests use.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Sends one request on a fresh HTTP/1.1 connection and reads the whole response.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> (Response<()>, Bytes) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (Response::from_parts(parts, ()), body)
}

/// Sends one request over HTTP/2 (prior knowledge) and reads the whole response.
pub async fn send_h2(addr: SocketAddr, req: Request<Full<Bytes>>) -> (Response<()>, Bytes) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("http2 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (Response::from_parts(parts, ()), body)
}

/// A GET request for `path_and_query` with `Host` set.
pub fn get(addr: SocketAddr, path_and_query: &str) -> hyper::http::request::Builder {
    Request::get(path_and_query).header("host", addr.to_string())
}

/// A POST request for `path_and_query` with `Host` set.
pub fn post(addr: SocketAddr, path_and_query: &str) -> hyper::http::request::Builder {
    Request::post(path_and_query).header("host", addr.to_string())
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}
