//! Real mail servers for tests: Dovecot (IMAP) and aiosmtpd (SMTP), each on a free high port
//! with a temporary configuration, stopped on drop. Nothing is mocked; the test command installs
//! both (`dovecot-imapd` from apt, `aiosmtpd` from PyPI into the test venv). A server that cannot
//! start fails the test with the reason — it is never skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const IMAP_USER: &str = "alice";
pub const IMAP_PASSWORD: &str = "secret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {port} within 15 s: {}", std::fs::read_to_string(log).unwrap_or_default());
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// A Dovecot instance serving one mailbox user over plain IMAP (STARTTLS offered) and IMAPS.
pub struct Dovecot {
    pub port: u16,
    pub tls_port: u16,
    /// The self-signed leaf certificate (PEM) for `localhost` / `127.0.0.1`.
    pub cert_pem: Vec<u8>,
    dir: tempfile::TempDir,
    child: Child,
}

impl Dovecot {
    pub fn start() -> Self {
        Self::launch(true)
    }

    /// A server that does not advertise IDLE, like some hosted IMAP services.
    pub fn start_without_idle() -> Self {
        Self::launch(false)
    }

    fn launch(idle: bool) -> Self {
        let dovecot = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("dovecot is not installed: run scripts/test, which installs dovecot-imapd");
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        let (port, tls_port) = (free_port(), free_port());
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("dirs");
        }
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(d.join("key.pem"))
            .arg("-out")
            .arg(d.join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl could not make the test certificate");
        std::fs::write(d.join("passwd"), format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")).expect("passwd");
        // Dovecot refuses to run its login processes as root: as root, run it all as nobody.
        let root = is_root();
        let (user, group, uid, gid) = if root { ("nobody".to_owned(), "nogroup".to_owned(), 65534, 65534) } else { current_user() };
        let capability = if idle { "" } else { "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+\n" };
        let conf = format!(
            r#"{capability}protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = imaptest-{port}
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = {uid}
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  user = {user}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"#,
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf).expect("conf");
        if root {
            chown_tree(&d, uid, gid);
        }
        let log = d.join("stdout.log");
        let out = std::fs::File::create(&log).expect("log");
        let mut command = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", dovecot]);
            c
        } else {
            Command::new(dovecot)
        };
        let mut child = command
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start dovecot");
        wait_for_port(port, &mut child, "dovecot", &log);
        wait_for_port(tls_port, &mut child, "dovecot (imaps)", &log);
        let cert_pem = std::fs::read(d.join("cert.pem")).expect("cert");
        Self { port, tls_port, cert_pem, dir, child }
    }

    /// Appends a raw mail to the user's mailbox, as a mail server would deliver it. Uses IMAP
    /// APPEND over a plain socket, so the test talks to the server only through its protocol.
    pub fn deliver(&self, mailbox: &str, raw: &[u8]) {
        use std::io::{BufRead, BufReader, Write};
        let stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to dovecot");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        let mut line = String::new();
        let mut expect = |reader: &mut BufReader<std::net::TcpStream>, prefix: &str| loop {
            line.clear();
            reader.read_line(&mut line).expect("read from dovecot");
            assert!(!line.is_empty(), "dovecot closed the connection");
            if let Some(rest) = line.strip_prefix(prefix) {
                assert!(prefix == "+" || rest.trim_start().starts_with("OK"), "dovecot said: {line}");
                return;
            }
        };
        expect(&mut reader, "*");
        write!(writer, "a1 LOGIN {IMAP_USER} {IMAP_PASSWORD}\r\n").expect("write");
        expect(&mut reader, "a1");
        write!(writer, "a2 APPEND {mailbox} {{{}}}\r\n", raw.len()).expect("write");
        expect(&mut reader, "+");
        writer.write_all(raw).expect("write");
        writer.write_all(b"\r\n").expect("write");
        expect(&mut reader, "a2");
        write!(writer, "a3 LOGOUT\r\n").expect("write");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL after a moment if it lingers.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..40 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn current_user() -> (String, String, u32, u32) {
    let out = |args: &[&str]| {
        Command::new("id").args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
    };
    (out(&["-un"]), out(&["-gn"]), out(&["-u"]).parse().unwrap_or(0), out(&["-g"]).parse().unwrap_or(0))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// An aiosmtpd handler that answers like a real server does for bad and busy mailboxes:
/// `550` for recipients starting with `reject`, `451` for those starting with `later`; everything
/// else is stored in the Maildir. A recipient starting with `once` is unknown the first time and
/// exists from then on (a mailbox created after the first try). The first mail for a recipient starting with `hold` is stored
/// but answered only two minutes later: a server that took the mail and whose answer is lost.
const HANDLER: &str = r#"
import asyncio, os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

class Picky(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        held = sys.argv[2].rstrip("/") + ".held"
        if any(r.startswith("hold") for r in envelope.rcpt_tos) and not os.path.exists(held):
            open(held, "w").close()
            await asyncio.sleep(120)
        return answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if address.startswith("once"):
            created = sys.argv[2].rstrip("/") + ".created-" + address
            if not os.path.exists(created):
                open(created, "w").close()
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if address.startswith("later"):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

port, maildir = int(sys.argv[1]), sys.argv[2]
options = {}
if len(sys.argv) > 3:
    # STARTTLS required, then AUTH with the given user and password.
    import ssl
    from aiosmtpd.smtp import AuthResult, LoginPassword
    cert, key, user, password = sys.argv[3:7]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok)
    options = dict(tls_context=context, require_starttls=True, authenticator=authenticator, auth_required=True)
controller = Controller(Picky(maildir), hostname="127.0.0.1", port=port, **options)
controller.start()
print("ready", flush=True)
import signal, threading
stop = threading.Event()
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda *a: stop.set())
stop.wait()
controller.stop()
"#;

/// An aiosmtpd SMTP receiver that stores every mail in a Maildir.
pub struct SmtpSink {
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts aiosmtpd (with a handler that refuses some recipients) with the Python in `OMNIBRIDGE_TEST_PYTHON` (set up by
    /// scripts/test with aiosmtpd installed).
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A receiver that requires STARTTLS (with `dovecot`'s certificate) and then AUTH as
    /// `user` / `password`, like a submission server.
    pub fn start_tls(dovecot: &Dovecot, user: &str, password: &str) -> Self {
        let d = dovecot.dir.path();
        Self::launch(Some([d.join("cert.pem").display().to_string(), d.join("key.pem").display().to_string(), user.into(), password.into()]))
    }

    fn launch(tls: Option<[String; 4]>) -> Self {
        let python = std::env::var("OMNIBRIDGE_TEST_PYTHON")
            .expect("OMNIBRIDGE_TEST_PYTHON must name a Python with aiosmtpd installed; scripts/test sets it up");
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = free_port();
        let out = std::fs::File::create(&log).expect("log");
        let script = dir.path().join("picky_smtp.py");
        std::fs::write(&script, HANDLER).expect("handler script");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&maildir)
            .args(tls.iter().flatten())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start aiosmtpd");
        wait_for_port(port, &mut child, "aiosmtpd", &log);
        Self { port, maildir, _dir: dir, child }
    }

    /// Every mail received so far (raw bytes, with X-MailFrom / X-RcptTo envelope headers).
    pub fn received(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(self.maildir.join("new")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    }

    /// Waits until at least `n` mails arrived; panics after `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "the SMTP receiver got {} mails, expected {n}", got.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
