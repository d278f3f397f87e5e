//! A deliberately small SMTP client speaking over a real TCP socket.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub struct SmtpClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub greeting: String,
}

impl SmtpClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect smtp");
        Self::over(stream).await
    }

    /// Connects from a chosen loopback address (Linux routes all of 127/8
    /// to lo), e.g. 127.0.0.2 to be a host an SPF record does not list.
    pub async fn connect_from(addr: SocketAddr, local: std::net::IpAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(local, 0))
            .expect("bind local address");
        let stream = socket.connect(addr).await.expect("connect smtp");
        Self::over(stream).await
    }

    async fn over(stream: TcpStream) -> Self {
        let (r, w) = stream.into_split();
        let mut c = SmtpClient {
            reader: BufReader::new(r),
            writer: w,
            greeting: String::new(),
        };
        c.greeting = c.reply().await;
        c
    }

    /// Reads one (possibly multi-line) reply; "" on EOF.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub async fn raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn ehlo(&mut self) -> String {
        self.cmd("EHLO client.test").await
    }

    /// MAIL, RCPT for each, DATA with dot-stuffing; returns the reply to the
    /// final dot (or the first refusal).
    pub async fn send_mail(&mut self, from: &str, rcpts: &[&str], raw: &[u8]) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        if !r.starts_with("250") {
            return r;
        }
        let mut accepted = 0;
        let mut last = String::new();
        for rcpt in rcpts {
            last = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            if last.starts_with("250") {
                accepted += 1;
            }
        }
        if accepted == 0 {
            self.cmd("RSET").await;
            return last;
        }
        let r = self.cmd("DATA").await;
        if !r.starts_with("354") {
            return r;
        }
        self.raw(&dot_stuff(raw)).await;
        self.reply().await
    }

    pub async fn quit(&mut self) {
        let _ = self.writer.write_all(b"QUIT\r\n").await;
        let _ = self.reply().await;
    }
}

pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
