//! Hostile mix benchmark: ordinary forwards, alone and then each right behind a
//! hostile message (compression bombs, a PDF form that draws itself, 10,000
//! MIME parts, 100 levels of nesting, 25 MB of headers), to a running dossier.
//! Reports the time from each ordinary mail's 250 to it being searchable, in
//! both phases of the same run; the script reads the server's peak RSS.

#[path = "../tests/common/hostile.rs"]
#[allow(dead_code)]
mod hostile;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Smtp {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtp {
    async fn connect(addr: SocketAddr) -> Self {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut s = Smtp {
            r: BufReader::new(r),
            w,
        };
        s.reply().await;
        s.cmd("EHLO bench.example").await;
        s
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    async fn cmd(&mut self, c: &str) -> String {
        self.w
            .write_all(format!("{c}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    /// Sends one message; the reply to the end of DATA.
    async fn send(&mut self, rcpt: &str, raw: &[u8]) -> String {
        self.cmd("MAIL FROM:<sam@team.example>").await;
        self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        self.cmd("DATA").await;
        let mut body = Vec::with_capacity(raw.len() + 8);
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                body.push(b'.');
            }
            body.extend_from_slice(line);
        }
        if !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b".\r\n");
        self.w.write_all(&body).await.unwrap();
        self.reply().await
    }
}

fn ordinary(word: &str) -> Vec<u8> {
    format!(
        "From: Sam Sales <sam@team.example>\r\nSubject: Fwd: Order {word}\r\n\
Message-ID: <{word}@bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
---------- Forwarded message ---------\r\nFrom: Jane Client <jane@client.example>\r\n\
Subject: Order {word}\r\n\r\nPlease confirm order {word} for the racks.\r\n"
    )
    .into_bytes()
}

fn hostile_mails() -> Vec<(&'static str, Vec<u8>)> {
    use hostile::*;
    let mut headers = b"From: sam@team.example\r\nSubject: headers\r\n".to_vec();
    headers.extend_from_slice(&b"X-A: b\r\n".repeat(3_000_000));
    headers.extend_from_slice(b"\r\nbody\r\n");
    vec![
        (
            "flate bomb (4 GiB)",
            mail_with_attachments(
                "flate",
                "x",
                &[("bomb.pdf", "application/pdf", pdf_flate_bomb(4 << 30))],
            )
            .into_bytes(),
        ),
        (
            "zip bomb (1 GiB)",
            mail_with_attachments(
                "zip",
                "x",
                &[(
                    "bomb.docx",
                    "application/octet-stream",
                    docx_zip_bomb(1 << 30),
                )],
            )
            .into_bytes(),
        ),
        (
            "self-drawing form",
            mail_with_attachments(
                "form",
                "x",
                &[("form.pdf", "application/pdf", pdf_self_drawing_form())],
            )
            .into_bytes(),
        ),
        ("10,000 parts", many_parts(10_000).into_bytes()),
        ("100 levels", deeply_nested(100).into_bytes()),
        ("5,000 nested messages", nested_messages(5_000).into_bytes()),
        ("24 MB of headers", headers),
    ]
}

async fn searchable(http: SocketAddr, token: &str, word: &str) -> Duration {
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let r: serde_json::Value = client
            .get(format!("http://{http}/api/search?q={word}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["total"] == 1 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{word} never searchable"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} n={:<3} p50 {:>7.1} ms   max {:>7.1} ms",
        v.len(),
        ms(v[v.len() / 2]),
        ms(*v.last().unwrap())
    );
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (smtp, http, token, rcpt) = (a[1].parse().unwrap(), a[2].parse().unwrap(), &a[3], &a[4]);
    let rounds: usize = a.get(5).map_or(3, |n| n.parse().unwrap());
    let mut c = Smtp::connect(smtp).await;
    let mut alone = Vec::new();
    for i in 0..rounds * 7 {
        let word = format!("calm{i}x");
        assert!(c.send(rcpt, &ordinary(&word)).await.starts_with("250"));
        alone.push(searchable(http, token, &word).await);
    }
    let hostile = hostile_mails();
    let mut behind = Vec::new();
    for round in 0..rounds {
        for (i, (name, raw)) in hostile.iter().enumerate() {
            let reply = c.send(rcpt, raw).await;
            assert!(reply.starts_with("250"), "{name}: {reply}");
            let word = format!("storm{round}x{i}y");
            assert!(c.send(rcpt, &ordinary(&word)).await.starts_with("250"));
            behind.push(searchable(http, token, &word).await);
        }
    }
    summary("ordinary mail alone", alone);
    summary("right behind hostile mail", behind);
}
