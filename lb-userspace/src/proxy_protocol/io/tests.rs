//! Real sockets on 127.0.0.1 (and a unix socket pair): headers read exactly, the stream
//! after them intact, slow and broken senders handled.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

use super::*;
use crate::proxy_protocol::{
    Addresses, Command, ParseError, Tlv, Transport, Version, encode_v1, encode_v2_with,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A connected (client, accepted server side) TCP pair on loopback.
async fn pair() -> (TcpStream, Conn) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    client.set_nodelay(true).unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, Conn::Tcp(server))
}

async fn rest_of(conn: Conn) -> Vec<u8> {
    let mut rest = Vec::new();
    match conn {
        Conn::Tcp(mut s) => s.read_to_end(&mut rest).await.unwrap(),
        Conn::Unix(mut s) => s.read_to_end(&mut rest).await.unwrap(),
    };
    rest
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn v1_header() -> Vec<u8> {
    encode_v1(
        Some(addr("192.0.2.1:40000")),
        Some(addr("198.51.100.7:443")),
    )
}

fn v2_header() -> Vec<u8> {
    let tlvs = [
        Tlv::Crc32c(0),
        Tlv::Authority(b"example.com".to_vec()),
        Tlv::UniqueId(b"abc".to_vec()),
    ];
    encode_v2_with(
        Some(addr("[2001:db8::1]:40000")),
        Some(addr("[2001:db8::2]:443")),
        &tlvs,
    )
    .unwrap()
}

/// The body deliberately looks like another header, to catch over-reading.
const BODY: &[u8] = b"PROXY TCP4 6.6.6.6 6.6.6.6 1 1\r\nGET / HTTP/1.1\r\n\r\n";

#[test]
fn header_then_body_in_one_write() {
    rt().block_on(async {
        for header in [v1_header(), v2_header()] {
            let (mut client, conn) = pair().await;
            client
                .write_all(&[&header[..], BODY].concat())
                .await
                .unwrap();
            client.shutdown().await.unwrap();
            let got = read_header(&conn, Some(Duration::from_secs(5)))
                .await
                .unwrap();
            assert_eq!(got.command, Command::Proxy);
            assert!(got.client_addrs().is_some());
            assert_eq!(
                rest_of(conn).await,
                BODY,
                "bytes after the header are left intact"
            );
        }
    });
}

#[test]
fn slow_header_one_byte_at_a_time() {
    rt().block_on(async {
        for (header, version) in [(v1_header(), Version::V1), (v2_header(), Version::V2)] {
            let (mut client, conn) = pair().await;
            let writer = async move {
                for b in &header {
                    client.write_all(&[*b]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                client.write_all(BODY).await.unwrap();
                client.shutdown().await.unwrap();
            };
            let (got, ()) = tokio::join!(read_header(&conn, Some(Duration::from_secs(10))), writer);
            let got = got.unwrap();
            assert_eq!(got.version, version);
            match version {
                Version::V1 => assert_eq!(
                    got.client_addrs(),
                    Some((addr("192.0.2.1:40000"), addr("198.51.100.7:443")))
                ),
                Version::V2 => {
                    assert_eq!(
                        got.client_addrs(),
                        Some((addr("[2001:db8::1]:40000"), addr("[2001:db8::2]:443")))
                    );
                    assert_eq!(got.authority(), Some(&b"example.com"[..]));
                    assert_eq!(got.unique_id(), Some(&b"abc"[..]));
                }
            }
            assert_eq!(rest_of(conn).await, BODY);
        }
    });
}

#[test]
fn large_v2_header_grows_the_buffer() {
    rt().block_on(async {
        let tlvs = [Tlv::Noop(vec![0; 5000]), Tlv::Alpn(b"h2".to_vec())];
        let header =
            encode_v2_with(Some(addr("10.0.0.1:1")), Some(addr("10.0.0.2:2")), &tlvs).unwrap();
        let (mut client, conn) = pair().await;
        client
            .write_all(&[&header[..], BODY].concat())
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        let got = read_header(&conn, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(got.alpn(), Some(&b"h2"[..]));
        assert_eq!(rest_of(conn).await, BODY);
    });
}

#[test]
fn refusals() {
    rt().block_on(async {
        let (mut client, conn) = pair().await;
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let e = read_header(&conn, Some(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ReadError::Invalid(ParseError::NotProxyHeader)),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "Received something which does not look like a PROXY protocol header"
        );

        let (mut client, conn) = pair().await;
        client.write_all(b"PROXY TCP4 1.2.3.4 ").await.unwrap();
        let e = read_header(&conn, Some(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(matches!(e, ReadError::Timeout), "{e}");

        let (mut client, conn) = pair().await;
        client.write_all(&v2_header()[..20]).await.unwrap();
        client.shutdown().await.unwrap();
        let e = read_header(&conn, Some(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(matches!(e, ReadError::Truncated { received: 20 }), "{e}");

        let (client, conn) = pair().await;
        drop(client);
        let e = read_header(&conn, Some(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(matches!(e, ReadError::Closed), "{e}");
    });
}

#[test]
fn unix_sockets_and_write_header() {
    rt().block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (sender, receiver) = (Conn::Unix(a), Conn::Unix(b));
        let local = [&SIGNATURE[..], &[0x20, 0x00, 0, 0], BODY].concat();
        write_header(&sender, &local).await.unwrap();
        drop(sender);
        let got = read_header(&receiver, None).await.unwrap();
        assert_eq!(
            (got.client_addrs(), got.command, got.addresses),
            (None, Command::Local, Addresses::Unspec)
        );
        assert_eq!(rest_of(receiver).await, BODY);

        let (mut client, conn) = pair().await;
        let header = crate::proxy_protocol::header_for(
            crate::config::model::ProxyVersion::V2,
            Some(addr("1.2.3.4:5")),
            Some(addr("[::1]:6")),
        );
        write_header(&conn, &header).await.unwrap();
        drop(conn);
        let mut wire = Vec::new();
        client.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire, header);
        match crate::proxy_protocol::parse(&wire) {
            Parse::Done { header, .. } => assert_eq!(
                header.addresses,
                Addresses::Inet {
                    transport: Transport::Stream,
                    src: addr("[::ffff:1.2.3.4]:5"),
                    dst: addr("[::1]:6"),
                }
            ),
            other => panic!("{other:?}"),
        }
    });
}

/// CPU time (user + system, in clock ticks) this thread has used so far.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn waiting_for_the_rest_does_not_spin() {
    // On its own thread with a watchdog: a busy loop would never let the test end.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let used = rt().block_on(async {
            let header = v2_header();
            let (mut client, conn) = pair().await;
            let before = thread_cpu_ticks();
            let writer = async move {
                client.write_all(&header[..10]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
                client.write_all(&header[10..30]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
                client.write_all(&header[30..]).await.unwrap();
                client.write_all(BODY).await.unwrap();
                client.shutdown().await.unwrap();
            };
            let (got, ()) = tokio::join!(read_header(&conn, Some(Duration::from_secs(5))), writer);
            assert!(got.is_ok());
            let used = thread_cpu_ticks() - before;
            assert_eq!(rest_of(conn).await, BODY);
            used
        });
        let _ = tx.send(used);
    });
    let used = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("read_header busy-loops while waiting for the rest of a header");
    // 400 ms of waiting: a busy loop would burn ~40 ticks of 10 ms.
    assert!(used < 10, "{used} ticks of CPU while waiting");
}
