//! SIGTERM, as an orchestrator sends it on every deploy: the server stops accepting, lets
//! in-flight requests finish (for at most `SHUTDOWN_TIMEOUT_SECS`) and exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bootstrap-admin-pass-1";

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The release-like binary on a fresh SQLite file, once `/readyz` answers.
    fn start(shutdown_timeout_secs: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_karvon"))
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/k.db", dir.path().display()),
            )
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("KARVON_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
            .env("KARVON_PASSWORD_HASHING", "fast-insecure")
            .env("SHUTDOWN_TIMEOUT_SECS", shutdown_timeout_secs.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start karvon");
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(mut stream) = self.connect() {
                let _ = stream
                    .write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become ready");
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        TcpStream::connect(("127.0.0.1", self.port))
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The exit status, waiting at most `within`.
    fn exit_status(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the server did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A login whose body is only half sent: the request is in flight until the rest arrives.
fn half_sent_login(server: &Server) -> (TcpStream, Vec<u8>) {
    let body = format!(r#"{{"username": "admin", "password": "{PASSWORD}"}}"#).into_bytes();
    let mut stream = server.connect().expect("connect");
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let (first, rest) = body.split_at(10);
    stream.write_all(first).expect("send half the body");
    stream.flush().expect("flush");
    (stream, rest.to_vec())
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_refuses_new_ones_and_exits_zero() {
    let mut server = Server::start(30);
    let (mut stream, rest) = half_sent_login(&server);
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    std::thread::sleep(Duration::from_millis(500));

    assert!(
        server.connect().is_err(),
        "a new connection was accepted after SIGTERM"
    );
    stream.write_all(&rest).expect("send the rest of the body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight login: {answer}"
    );
    assert!(answer.contains("access_token"));

    let status = server.exit_status(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

#[test]
fn a_request_that_never_finishes_does_not_hold_shutdown_past_the_timeout() {
    let mut server = Server::start(2);
    let (_stream, _rest) = half_sent_login(&server);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.terminate();
    let status = server.exit_status(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "exited before the in-flight request's grace period: {:?}",
        started.elapsed()
    );
}
