//! A tiny authoritative DNS server on a loopback UDP port, for tests that deliver to an MX: it answers
//! the records it was given, NODATA for other types of a known name, and NXDOMAIN for anything else.

use std::net::{SocketAddr, UdpSocket};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};

/// Starts the server; it runs until the test process ends.
pub fn serve(records: Vec<(&str, RData)>) -> SocketAddr {
    let records: Vec<Record> = records.into_iter().map(|(name, data)| Record::from_rdata(Name::from_ascii(name).unwrap(), 60, data)).collect();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf) else { return };
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
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
            let _ = socket.send_to(&answer.to_vec().unwrap(), from);
        }
    });
    address
}
