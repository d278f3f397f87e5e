//! The loopback DNS server of the sender-authentication tests, for
//! `bench/auth.sh`: serves team.example's SPF (127.0.0.1 allowed) and DMARC
//! (p=reject) records on 127.0.0.1, prints its address, and on SIGTERM or
//! Ctrl-C prints how many queries it answered.

#[allow(dead_code)]
#[path = "../tests/common/dns.rs"]
mod dns;

use tokio::signal::unix::{signal, SignalKind};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let zone = dns::Zone::default()
        .txt("team.example", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.team.example", "v=DMARC1; p=reject");
    let server = dns::DnsServer::start(zone).await;
    println!("{}", server.addr);
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("dns queries answered: {}", server.query_count());
}
