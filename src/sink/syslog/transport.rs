//! Connections to the syslog server: UDP, TCP, TLS and Unix datagram sockets.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "syslog-tls")]
use super::tls::{PeerClosed, SyslogTls, TlsStream};

/// How long a connect or a blocked write may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how messages are sent.
#[derive(Clone, Debug)]
pub(super) enum Target {
    Udp(String),
    Tcp(String),
    #[cfg(feature = "syslog-tls")]
    Tls(String, SyslogTls),
    #[cfg(unix)]
    Unix(PathBuf),
    #[cfg(unix)]
    UnixStream(PathBuf),
}

impl Target {
    /// `udp://127.0.0.1:514`, for names and messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Target::Udp(a) => format!("udp://{a}"),
            Target::Tcp(a) => format!("tcp://{a}"),
            #[cfg(feature = "syslog-tls")]
            Target::Tls(a, _) => format!("tls://{a}"),
            #[cfg(unix)]
            Target::Unix(p) => format!("unix://{}", p.display()),
            #[cfg(unix)]
            Target::UnixStream(p) => format!("unix-stream://{}", p.display()),
        }
    }

    /// Whether messages go one per datagram (else octet-counted on a stream).
    /// Whether messages end with a newline instead of an octet count (Unix
    /// stream sockets, whose receivers split on newlines).
    pub(super) fn is_newline_framed(&self) -> bool {
        #[cfg(unix)]
        if let Target::UnixStream(_) = self {
            return true;
        }
        false
    }

    pub(super) fn is_datagram(&self) -> bool {
        match self {
            Target::Udp(_) => true,
            #[cfg(unix)]
            Target::Unix(_) => true,
            _ => false,
        }
    }

    pub(super) fn connect(&self) -> io::Result<Conn> {
        match self {
            Target::Udp(addr) => {
                let addr = resolve(addr)?;
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let sock = UdpSocket::bind(local)?;
                sock.connect(addr)?;
                sock.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Udp(sock))
            }
            Target::Tcp(addr) => Ok(Conn::Tcp(tcp(addr)?)),
            #[cfg(feature = "syslog-tls")]
            Target::Tls(addr, tls) => Ok(Conn::Tls(Box::new(tls.connect(tcp(addr)?)?))),
            #[cfg(unix)]
            Target::Unix(path) => {
                let sock = UnixDatagram::unbound()?;
                sock.connect(path)?;
                sock.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Unix(sock))
            }
            #[cfg(unix)]
            Target::UnixStream(path) => {
                let sock = UnixStream::connect(path)?;
                sock.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::UnixStream(sock))
            }
        }
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address"))
}

fn tcp(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// An open connection.
pub(super) enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    #[cfg(feature = "syslog-tls")]
    Tls(Box<TlsStream>),
    #[cfg(unix)]
    Unix(UnixDatagram),
    #[cfg(unix)]
    UnixStream(UnixStream),
}

impl Conn {
    /// Sends one datagram.
    pub(super) fn send_datagram(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = match self {
            Conn::Udp(s) => s.send(msg)?,
            #[cfg(unix)]
            Conn::Unix(s) => s.send(msg)?,
            _ => return Err(io::Error::other("not a datagram socket")),
        };
        if n == msg.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "datagram truncated"))
        }
    }

    /// Writes stream bytes; returns how many were written before an error.
    pub(super) fn write_stream(&mut self, bytes: &[u8]) -> (usize, Option<io::Error>) {
        let w: &mut dyn Write = match self {
            Conn::Tcp(s) => s,
            #[cfg(feature = "syslog-tls")]
            Conn::Tls(s) => s.as_mut(),
            #[cfg(unix)]
            Conn::UnixStream(s) => s,
            _ => return (0, Some(io::Error::other("not a stream socket"))),
        };
        let mut off = 0;
        while off < bytes.len() {
            match w.write(&bytes[off..]) {
                Ok(0) => return (off, Some(io::Error::from(io::ErrorKind::WriteZero))),
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (off, Some(e)),
            }
        }
        match w.flush() {
            Ok(()) => (off, None),
            // TLS: the records written but not flushed are not on the wire.
            Err(e) => (0, Some(e)),
        }
    }

    /// Whether the server closed a stream connection. A syslog server never
    /// sends on it, so anything readable means the end (or TLS housekeeping).
    pub(super) fn peer_closed(&mut self) -> bool {
        match self {
            Conn::Tcp(s) => tcp_closed(s),
            #[cfg(feature = "syslog-tls")]
            Conn::Tls(s) => s.as_mut().peer_closed(),
            #[cfg(unix)]
            Conn::UnixStream(s) => unix_stream_closed(s),
            _ => false,
        }
    }
}

pub(super) fn tcp_closed(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).is_err() || closed
}

/// Like [`tcp_closed`]; reading is safe since the server never sends.
#[cfg(unix)]
fn unix_stream_closed(s: &UnixStream) -> bool {
    use std::io::Read;
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let mut r = s;
    let closed = match r.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).is_err() || closed
}
