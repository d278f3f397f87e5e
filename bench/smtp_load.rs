//! SMTP load client: sends N messages of a realistic size over C connections to
//! a running dossier, and measures accepted msg/s and the time from each 250 to
//! the message being searchable over HTTP.
//!
//! Latency method: every message carries the run's marker word; a poller asks
//! for the marker's hit count every few ms. The queue is processed in commit
//! order, so the k-th acknowledged message is searchable once the count reaches
//! k; its latency is that moment minus its 250.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    smtp: SocketAddr,
    http: SocketAddr,
    token: String,
    rcpt: String,
    messages: usize,
    connections: usize,
    size: usize,
}

fn parse_args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut get = |name: &str| -> String {
        let flag = a.next().unwrap_or_else(|| panic!("expected {name}"));
        assert_eq!(flag, name, "arguments: --smtp A --http A --token T --rcpt R --messages N --connections C --size BYTES");
        a.next().unwrap_or_else(|| panic!("{name} needs a value"))
    };
    Args {
        smtp: get("--smtp").parse().unwrap(),
        http: get("--http").parse().unwrap(),
        token: get("--token"),
        rcpt: get("--rcpt"),
        messages: get("--messages").parse().unwrap(),
        connections: get("--connections").parse().unwrap(),
        size: get("--size").parse().unwrap(),
    }
}

/// A forwarded client mail: some prose plus a base64 attachment up to `size`.
fn message(marker: &str, n: usize, size: usize) -> Vec<u8> {
    let prose = "Dear Sam, thank you for the meeting on Tuesday. As discussed, please find our \
        updated quotation attached; delivery terms are unchanged and prices hold until the end of \
        the quarter. Kind regards, Jane\r\n";
    let mut body = String::new();
    while body.len() < 2048 {
        body.push_str(prose);
    }
    let head = format!(
        "From: Sam Sales <sam@team.example>\r\nTo: archive@archive.localhost\r\n\
Subject: Fwd: Quotation {n}\r\nDate: Tue, 3 Jun 2025 09:00:00 +0000\r\n\
Message-ID: <load-{marker}-{n}@bench.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
---------- Forwarded message ---------\r\nFrom: Jane Client <jane@client.example>\r\n\r\n{marker} {body}\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"quote-{n}.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
    );
    let mut m = head.into_bytes();
    let line =
        b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\r\n";
    while m.len() + line.len() + 8 < size {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap() == 0 {
            return all;
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn search_total(client: &reqwest::Client, a: &Args, marker: &str) -> usize {
    let url = format!("http://{}/api/search?q={marker}&limit=1", a.http);
    let v: serde_json::Value = client
        .get(url)
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["total"].as_u64().unwrap() as usize
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let a = Arc::new(parse_args());
    let marker = format!("run{:x}", rand::random::<u32>());
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(a.messages)));
    let seen: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let poller = {
        let (a, marker, seen, done) = (a.clone(), marker.clone(), seen.clone(), done.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut last = 0;
            loop {
                let n = search_total(&client, &a, &marker).await;
                if n > last {
                    seen.lock().unwrap().push((n, Instant::now()));
                    last = n;
                }
                if done.load(std::sync::atomic::Ordering::SeqCst) && n >= a.messages {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        let (a, marker, acks, next) = (a.clone(), marker.clone(), acks.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (r, mut w) = TcpStream::connect(a.smtp).await.unwrap().into_split();
            let mut r = BufReader::new(r);
            reply(&mut r).await;
            w.write_all(b"EHLO bench\r\n").await.unwrap();
            reply(&mut r).await;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= a.messages {
                    break;
                }
                let mut data = message(&marker, n, a.size);
                data.extend_from_slice(b".\r\n");
                // Pipelined envelope: one round trip for MAIL, RCPT and DATA.
                let env = format!(
                    "MAIL FROM:<sam@team.example>\r\nRCPT TO:<{}>\r\nDATA\r\n",
                    a.rcpt
                );
                w.write_all(env.as_bytes()).await.unwrap();
                for _ in 0..3 {
                    reply(&mut r).await;
                }
                w.write_all(&data).await.unwrap();
                let rep = reply(&mut r).await;
                assert!(rep.starts_with("250"), "refused: {rep}");
                acks.lock().unwrap().push(Instant::now());
            }
            w.write_all(b"QUIT\r\n").await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let send_secs = start.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(300), poller)
        .await
        .expect("all searchable")
        .unwrap();
    let all_searchable = start.elapsed().as_secs_f64();

    let mut acks = acks.lock().unwrap().clone();
    acks.sort();
    let seen = seen.lock().unwrap().clone();
    let mut lat: Vec<f64> = acks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let at = seen.iter().find(|(n, _)| *n > k).map(|(_, i)| *i).unwrap();
            at.saturating_duration_since(*t).as_secs_f64() * 1000.0
        })
        .collect();
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    println!("messages           {}", a.messages);
    println!("connections        {}", a.connections);
    println!("message size       {} bytes", a.size);
    println!(
        "accepted           {:.0} msg/s ({:.2} s)",
        a.messages as f64 / send_secs,
        send_secs
    );
    println!(
        "all searchable     {:.2} s after start ({:.0} msg/s end to end)",
        all_searchable,
        a.messages as f64 / all_searchable
    );
    println!(
        "250 -> searchable  p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}
