//! A small authoritative DNS server of the tests' own on loopback UDP: it answers TXT
//! queries from a table the test fills (`publish`), and NXDOMAIN for anything else. The
//! application under test is started with `--dns-resolver` pointing here, so custom
//! domains are verified exactly as in production, without the outside world.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The server; it stops with the test's runtime.
#[derive(Clone)]
pub struct TestDns {
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl TestDns {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("a loopback UDP port");
        let dns = Self {
            addr: socket.local_addr().unwrap(),
            records: Arc::default(),
        };
        let records = dns.records.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buffer).await {
                if let Some(answer) = answer(&records, &buffer[..len]) {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
        });
        dns
    }

    /// Publishes a TXT record with one string at `name`.
    pub fn publish(&self, name: &str, value: &str) {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.records
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(value.to_owned());
    }
}

fn answer(records: &Mutex<HashMap<String, Vec<String>>>, query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let question = query.queries.first()?.clone();
    let key = question
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let found = records.lock().unwrap().get(&key).cloned();
    response.add_query(question.clone());
    match found {
        Some(values) if question.query_type == RecordType::TXT => {
            let name: Name = question.name.clone();
            for value in values {
                let data = RData::TXT(TXT::new(vec![value]));
                response.add_answer(Record::from_rdata(name.clone(), 0, data));
            }
        }
        Some(_) => {}
        None => response.metadata.response_code = ResponseCode::NXDomain,
    }
    response.to_vec().ok()
}
