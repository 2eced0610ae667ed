//! A tiny authoritative DNS server on loopback, for tests that deliver to an MX or check senders: it answers
//! the records it was given, NODATA for other types of a known name, and NXDOMAIN for anything else. It
//! listens on UDP and (for [`serve_on`]) TCP too, as glibc's resolver falls back to TCP when an answer is
//! truncated; queries with an EDNS0 record are answered like any other.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};

/// Starts the server on a free UDP port of 127.0.0.1; it runs until the test process ends.
pub fn serve(records: Vec<(&str, RData)>) -> SocketAddr {
    serve_udp(UdpSocket::bind("127.0.0.1:0").unwrap(), records_of(records))
}

/// Starts the server on `address` (UDP and TCP), for programs that only ask port 53 of the servers in
/// /etc/resolv.conf. `None` when the address is taken.
pub fn serve_on(address: &str, records: Vec<(&str, RData)>) -> Option<SocketAddr> {
    let udp = UdpSocket::bind(address).ok()?;
    let tcp = TcpListener::bind(address).ok()?;
    let records = records_of(records);
    let for_tcp = records.clone();
    std::thread::spawn(move || {
        for stream in tcp.incoming() {
            let Ok(mut stream) = stream else { continue };
            let records = for_tcp.clone();
            std::thread::spawn(move || {
                let mut len = [0u8; 2];
                while stream.read_exact(&mut len).is_ok() {
                    let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                    if stream.read_exact(&mut query).is_err() {
                        return;
                    }
                    let Some(answer) = answer(&records, &query) else { return };
                    let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&answer);
                    if stream.write_all(&framed).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Some(serve_udp(udp, records))
}

fn records_of(records: Vec<(&str, RData)>) -> Vec<Record> {
    records.into_iter().map(|(name, data)| Record::from_rdata(Name::from_ascii(name).unwrap(), 60, data)).collect()
}

fn serve_udp(socket: UdpSocket, records: Vec<Record>) -> SocketAddr {
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf) else { return };
            if let Some(answer) = answer(&records, &buf[..n]) {
                let _ = socket.send_to(&answer, from);
            }
        }
    });
    address
}

/// The answer to one query in wire format; None for a packet that is not a query.
fn answer(records: &[Record], query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut answer = Message::new();
    answer.set_id(query.id()).set_message_type(MessageType::Response).set_op_code(query.op_code());
    answer.set_authoritative(true).set_recursion_desired(query.recursion_desired()).set_recursion_available(true);
    answer.add_queries(query.queries().to_vec());
    let mut known = false;
    for q in query.queries() {
        for r in records.iter().filter(|r| r.name().eq_case(q.name()) || r.name() == q.name()) {
            known = true;
            if r.record_type() == q.query_type() {
                answer.add_answer(r.clone());
            }
        }
    }
    if !known {
        answer.set_response_code(ResponseCode::NXDomain);
    }
    answer.to_vec().ok()
}
