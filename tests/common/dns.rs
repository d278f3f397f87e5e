//! A real DNS server on loopback for sender-authentication tests and the
//! benchmark: UDP on 127.0.0.1, port 0, serving the TXT (SPF, DKIM keys,
//! DMARC) and A records a test puts in its zone; NXDOMAIN for anything else.
//! Messages are encoded and decoded with hickory-proto (mail-auth's).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mail_auth::hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{SOA, TXT};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The records served, by lowercase name without the final dot.
#[derive(Default, Clone)]
pub struct Zone {
    txt: HashMap<String, Vec<String>>,
    a: HashMap<String, Vec<Ipv4Addr>>,
}

impl Zone {
    pub fn txt(mut self, name: &str, value: &str) -> Self {
        self.txt
            .entry(key(name))
            .or_default()
            .push(value.to_owned());
        self
    }

    pub fn a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.a.entry(key(name)).or_default().push(ip);
        self
    }

    fn answer(&self, name: &Name, ty: RecordType) -> Option<Vec<Record>> {
        let k = key(&name.to_ascii());
        let txt = self.txt.get(&k);
        let a = self.a.get(&k);
        if txt.is_none() && a.is_none() {
            return None;
        }
        let mut out = Vec::new();
        if ty == RecordType::TXT {
            for v in txt.into_iter().flatten() {
                // A TXT string holds at most 255 bytes; longer values are split.
                let parts = v
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned());
                out.push(Record::from_rdata(
                    name.clone(),
                    300,
                    RData::TXT(TXT::new(parts.collect())),
                ));
            }
        }
        if ty == RecordType::A {
            for ip in a.into_iter().flatten() {
                out.push(Record::from_rdata(
                    name.clone(),
                    300,
                    RData::A((*ip).into()),
                ));
            }
        }
        Some(out)
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

pub struct DnsServer {
    pub addr: SocketAddr,
    /// Queries received so far.
    pub queries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Serves `zone` until dropped.
    pub async fn start(zone: Zone) -> Self {
        Self::spawn(Some(zone)).await
    }

    /// Reads every query and never answers: a resolver that is down.
    pub async fn silent() -> Self {
        Self::spawn(None).await
    }

    /// The `auth.dns_servers` value pointing at this server.
    pub fn config_value(&self) -> String {
        format!("[\"{}\"]", self.addr)
    }

    pub fn query_count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    async fn spawn(zone: Option<Zone>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let (Some(zone), Ok(request)) = (&zone, Message::from_vec(&buf[..n])) else {
                    continue;
                };
                if let Ok(bytes) = respond(zone, &request).to_vec() {
                    let _ = socket.send_to(&bytes, from).await;
                }
            }
        });
        DnsServer {
            addr,
            queries,
            task,
        }
    }
}

fn respond(zone: &Zone, request: &Message) -> Message {
    let mut resp = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = request.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    if let Some(edns) = request.edns.clone() {
        resp.set_edns(edns);
    }
    let Some(q) = request.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp;
    };
    resp.add_query(q.clone());
    match zone.answer(q.name(), q.query_type()) {
        Some(records) if !records.is_empty() => {
            for r in records {
                resp.add_answer(r);
            }
        }
        found => {
            // NODATA or NXDOMAIN, with an SOA so resolvers may cache the miss.
            if found.is_none() {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            let soa = SOA::new(
                Name::from_ascii("ns.test.").unwrap(),
                Name::from_ascii("hostmaster.test.").unwrap(),
                1,
                3600,
                600,
                86400,
                60,
            );
            resp.add_authority(Record::from_rdata(Name::root(), 60, RData::SOA(soa)));
        }
    }
    resp
}
