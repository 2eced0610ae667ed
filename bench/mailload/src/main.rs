//! Load driver for bench/mailbox.sh. Speaks POP3 and IMAP4rev1 over plain TCP on loopback, checks every
//! reply and every retrieved message byte for byte, and prints one `RESULT` line plus `OP` lines (latency
//! per command) for the script to parse.
//!
//!   mailload fill --port P --users u1,u2 --password PW [--messages 2000]
//!       APPENDs the corpus (messages 1..=N, 4-5 KB each) to each user's empty INBOX over IMAP, one session
//!       per user, all users at once. Untimed set-up; checks INBOX holds N messages afterwards.
//!   mailload pop3 --port P --users u1,u2,u3,u4 --password PW [--messages 2000] [--reps 10]
//!       One worker per user, all at once. Each worker runs REPS sessions one after another:
//!       USER, PASS, STAT, UIDL, RETR 1..=N (one command at a time), QUIT. Never DELE.
//!   mailload imap --port P --users u1..u10 --password PW [--messages 2000] [--seconds 30] [--seed S]
//!       One client per user, all at once, looping until SECONDS have passed (a loop that has started
//!       finishes, so every APPEND is expunged again): connect, LOGIN, SELECT INBOX,
//!       FETCH a:a+9 (UID FLAGS BODY.PEEK[HEADER]), FETCH x,y,z (BODY.PEEK[]), STORE r +FLAGS/-FLAGS
//!       (\Flagged) (alternating), APPEND INBOX {~4.5 KB}, UID STORE <appended> +FLAGS (\Deleted),
//!       EXPUNGE, LOGOUT. Each of the nine commands is one operation.
//!
//! Runs on a single-threaded tokio runtime so that it takes at most one of the machine's cores.
//! Any reply that is not OK, any message that differs from the corpus, or a mailbox of the wrong size is an
//! error: the client stops, the error is printed, and the exit status is 1.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

type R<T> = Result<T, String>;

// ---- corpus -------------------------------------------------------------------------------------------

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "invoice", "meeting", "the", "and", "of", "quarterly", "report", "please", "find", "attached", "to",
    "office", "printer", "lunch", "Thursday", "schedule", "customer", "order", "delivery", "a", "in",
    "budget", "review", "draft", "contract", "signed", "we", "will", "need", "by", "Friday", "thanks",
    "regards", "project", "update", "status", "call", "tomorrow", "morning", "for", "with", "is", "on",
    "warehouse", "stock", "shipment", "payment", "received", "account", "reminder", "holiday", "rota",
];

/// Message `i` (0-based) of the corpus: CRLF line endings, 4100..~5100 bytes, a few lines that start with
/// a dot (so POP3 dot-stuffing is exercised).
fn message(i: usize) -> Vec<u8> {
    let mut rng = Rng::new(i as u64 + 1);
    let target = 4100 + rng.below(900) as usize;
    let mut subject = String::new();
    for _ in 0..(3 + rng.below(5)) {
        subject.push(' ');
        subject.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    let mut m = format!(
        "Date: Mon, 2 Nov 2026 {:02}:{:02}:{:02} +0000\r\n\
         From: \"Sender {}\" <sender{}@example.org>\r\n\
         To: \"Office\" <staff@peer.test>\r\n\
         Subject: Bench {}:{}\r\n\
         Message-ID: <bench.{}@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n",
        8 + i / 3600 % 10,
        i / 60 % 60,
        i % 60,
        i % 97,
        i % 97,
        i,
        subject,
        i
    )
    .into_bytes();
    let mut line = String::new();
    while m.len() < target {
        line.clear();
        match rng.below(40) {
            0 => line.push('.'),
            1 => line.push_str(".. indented"),
            _ => {
                while line.len() < 60 + rng.below(12) as usize {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
                }
            }
        }
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn header_of(msg: &[u8]) -> &[u8] {
    let end = msg.windows(4).position(|w| w == b"\r\n\r\n").expect("corpus message has a header") + 4;
    &msg[..end]
}

// ---- statistics ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    ops: u64,
    loops: u64,
    messages: u64,
    errors: Vec<String>,
    /// microseconds per command kind
    lat: HashMap<&'static str, Vec<u32>>,
}

impl Stats {
    fn time(&mut self, kind: &'static str, since: Instant) {
        self.lat.entry(kind).or_default().push(since.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    fn merge(&mut self, o: Stats) {
        self.ops += o.ops;
        self.loops += o.loops;
        self.messages += o.messages;
        self.errors.extend(o.errors);
        for (k, v) in o.lat {
            self.lat.entry(k).or_default().extend(v);
        }
    }
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc/self/stat (fields 14 and 15, after the ")" of the name).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // after ")": field 3 is index 0, so utime (14) is index 11 and stime (15) index 12; CLK_TCK is 100 on Linux
    (ticks(11) + ticks(12)) / 100.0
}

// ---- connections --------------------------------------------------------------------------------------

async fn connect(port: u16) -> R<(BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let s = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let (r, w) = s.into_split();
    Ok((BufReader::with_capacity(64 * 1024, r), w))
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_end();
    if s.len() > 200 {
        format!("{}...", &s[..200])
    } else {
        s.to_string()
    }
}

struct Imap {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    tag: u64,
}

/// One server response line with its literals taken out.
struct Line {
    text: Vec<u8>,
    literals: Vec<Vec<u8>>,
}

struct Reply {
    untagged: Vec<Line>,
    /// the tagged line without the tag, e.g. "OK [APPENDUID 1 5] done\r\n"
    done: Vec<u8>,
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"}\r\n")?;
    let open = l.iter().rposition(|&c| c == b'{')?;
    let digits = &l[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Imap {
    async fn open(port: u16) -> R<Imap> {
        let (rd, wr) = connect(port).await?;
        let mut c = Imap { rd, wr, tag: 0 };
        let greeting = c.line().await?;
        if !greeting.text.starts_with(b"* OK") {
            return Err(format!("IMAP greeting: {}", show(&greeting.text)));
        }
        Ok(c)
    }

    async fn line(&mut self) -> R<Line> {
        let mut text = Vec::with_capacity(128);
        let mut literals = Vec::new();
        loop {
            let start = text.len();
            let n = self.rd.read_until(b'\n', &mut text).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(format!("connection closed by the server after {}", show(&text)));
            }
            match literal_len(&text[start..]) {
                Some(len) => {
                    let mut lit = vec![0u8; len];
                    self.rd.read_exact(&mut lit).await.map_err(|e| format!("read literal: {e}"))?;
                    literals.push(lit);
                }
                None => return Ok(Line { text, literals }),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> R<()> {
        self.wr.write_all(bytes).await.map_err(|e| format!("write: {e}"))
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("A{}", self.tag)
    }

    async fn finish(&mut self, tag: &str) -> R<Reply> {
        let mut untagged = Vec::new();
        loop {
            let l = self.line().await?;
            if l.text.starts_with(tag.as_bytes()) && l.text.get(tag.len()) == Some(&b' ') {
                return Ok(Reply { untagged, done: l.text[tag.len() + 1..].to_vec() });
            }
            untagged.push(l);
        }
    }

    /// Sends a command and waits for its tagged reply, which must be OK.
    async fn cmd(&mut self, command: &str) -> R<Reply> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        let r = self.finish(&tag).await?;
        if !r.done.starts_with(b"OK") {
            return Err(format!("{command} -> {}", show(&r.done)));
        }
        Ok(r)
    }

    /// APPEND with a synchronizing literal; returns the UID from [APPENDUID].
    async fn append(&mut self, msg: &[u8]) -> R<u64> {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes()).await?;
        loop {
            let l = self.line().await?;
            if l.text.starts_with(b"+") {
                break;
            }
            if l.text.starts_with(tag.as_bytes()) {
                return Err(format!("APPEND -> {}", show(&l.text)));
            }
        }
        let mut data = Vec::with_capacity(msg.len() + 2);
        data.extend_from_slice(msg);
        data.extend_from_slice(b"\r\n");
        self.send(&data).await?;
        let r = self.finish(&tag).await?;
        if !r.done.starts_with(b"OK") {
            return Err(format!("APPEND -> {}", show(&r.done)));
        }
        let text = String::from_utf8_lossy(&r.done);
        let uid = text
            .split("[APPENDUID ")
            .nth(1)
            .and_then(|s| s.split(']').next())
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("APPEND reply without APPENDUID: {}", show(&r.done)))?;
        Ok(uid)
    }
}

fn exists_of(r: &Reply) -> Option<u64> {
    r.untagged.iter().rev().find_map(|l| {
        let t = std::str::from_utf8(&l.text).ok()?;
        let mut w = t.split_whitespace();
        (w.next()? == "*").then_some(())?;
        let n = w.next()?.parse().ok()?;
        (w.next()? == "EXISTS").then_some(n)
    })
}

/// (sequence number, literals) of every untagged FETCH that carries literals.
fn fetched(r: &Reply) -> Vec<(usize, &Vec<Vec<u8>>)> {
    r.untagged
        .iter()
        .filter(|l| !l.literals.is_empty())
        .filter_map(|l| {
            let t = std::str::from_utf8(&l.text[..l.text.len().min(40)]).ok()?;
            let mut w = t.split_whitespace();
            (w.next()? == "*").then_some(())?;
            let n = w.next()?.parse().ok()?;
            (w.next()? == "FETCH").then_some((n, &l.literals))
        })
        .collect()
}

// ---- fill ---------------------------------------------------------------------------------------------

async fn fill_user(port: u16, user: String, password: String, corpus: std::rc::Rc<Vec<Vec<u8>>>) -> R<()> {
    let mut c = Imap::open(port).await?;
    c.cmd(&format!("LOGIN \"{user}\" \"{password}\"")).await?;
    let r = c.cmd("SELECT INBOX").await?;
    if exists_of(&r) != Some(0) {
        return Err(format!("{user}: INBOX is not empty before the fill ({:?} messages)", exists_of(&r)));
    }
    for m in corpus.iter() {
        c.append(m).await.map_err(|e| format!("{user}: {e}"))?;
    }
    let r = c.cmd("SELECT INBOX").await?;
    if exists_of(&r) != Some(corpus.len() as u64) {
        return Err(format!("{user}: INBOX holds {:?} messages after the fill, expected {}", exists_of(&r), corpus.len()));
    }
    c.cmd("LOGOUT").await?;
    Ok(())
}

// ---- POP3 ---------------------------------------------------------------------------------------------

struct Pop {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Pop {
    async fn line(&mut self) -> R<&[u8]> {
        self.buf.clear();
        let n = self.rd.read_until(b'\n', &mut self.buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        Ok(&self.buf)
    }
    async fn cmd(&mut self, command: &str) -> R<String> {
        self.wr.write_all(format!("{command}\r\n").as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let l = self.line().await?;
        if !l.starts_with(b"+OK") {
            let shown = if command.starts_with("PASS") { "PASS ***" } else { command };
            return Err(format!("{shown} -> {}", show(l)));
        }
        Ok(String::from_utf8_lossy(l).into_owned())
    }
    /// The rest of a multi-line reply, dot-unstuffed, into `out`.
    async fn multi(&mut self, out: &mut Vec<u8>) -> R<()> {
        out.clear();
        loop {
            let l = self.line().await?;
            if l == b".\r\n" {
                return Ok(());
            }
            let l = if l.starts_with(b"..") { &l[1..] } else { l };
            out.extend_from_slice(l);
        }
    }
}

async fn pop3_session(port: u16, user: &str, password: &str, corpus: &[Vec<u8>], st: &mut Stats) -> R<()> {
    let t = Instant::now();
    let (rd, wr) = connect(port).await?;
    let mut p = Pop { rd, wr, buf: Vec::with_capacity(256) };
    let g = p.line().await?;
    if !g.starts_with(b"+OK") {
        return Err(format!("POP3 greeting: {}", show(g)));
    }
    st.time("connect", t);
    let t = Instant::now();
    p.cmd(&format!("USER {user}")).await?;
    p.cmd(&format!("PASS {password}")).await?;
    st.time("login", t);
    let t = Instant::now();
    let stat = p.cmd("STAT").await?;
    let count: usize = stat.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    if count != corpus.len() {
        return Err(format!("{user}: STAT says {count} messages, expected {}", corpus.len()));
    }
    p.cmd("UIDL").await?;
    let mut body = Vec::with_capacity(8192);
    p.multi(&mut body).await?;
    if body.iter().filter(|&&b| b == b'\n').count() != corpus.len() {
        return Err(format!("{user}: UIDL listing does not have {} lines", corpus.len()));
    }
    st.time("stat+uidl", t);
    for (i, want) in corpus.iter().enumerate() {
        let t = Instant::now();
        p.cmd(&format!("RETR {}", i + 1)).await?;
        p.multi(&mut body).await?;
        st.time("retr", t);
        if body != *want {
            return Err(format!("{user}: RETR {} returned {} bytes that differ from the {} stored", i + 1, body.len(), want.len()));
        }
        st.messages += 1;
    }
    let t = Instant::now();
    p.cmd("QUIT").await?;
    st.time("quit", t);
    Ok(())
}

// ---- IMAP loop ----------------------------------------------------------------------------------------

async fn imap_loop(
    port: u16,
    user: &str,
    password: &str,
    corpus: &[Vec<u8>],
    extra: &[Vec<u8>],
    rng: &mut Rng,
    iteration: u64,
    st: &mut Stats,
) -> R<()> {
    let n = corpus.len();
    let t = Instant::now();
    let mut c = Imap::open(port).await?;
    st.time("connect", t);

    let t = Instant::now();
    c.cmd(&format!("LOGIN \"{user}\" \"{password}\"")).await?;
    st.time("LOGIN", t);
    st.ops += 1;

    let t = Instant::now();
    let r = c.cmd("SELECT INBOX").await?;
    st.time("SELECT", t);
    st.ops += 1;
    if exists_of(&r) != Some(n as u64) {
        return Err(format!("{user}: SELECT INBOX: {:?} messages, expected {n}", exists_of(&r)));
    }

    let first = 1 + rng.below((n - 9) as u64) as usize;
    let t = Instant::now();
    let r = c.cmd(&format!("FETCH {}:{} (UID FLAGS BODY.PEEK[HEADER])", first, first + 9)).await?;
    st.time("FETCH header", t);
    st.ops += 1;
    let got = fetched(&r);
    if got.len() != 10 {
        return Err(format!("{user}: FETCH {first}:{} headers: {} messages came back", first + 9, got.len()));
    }
    for (seq, lits) in got {
        if seq < first || seq > first + 9 || lits.len() != 1 || lits[0] != header_of(&corpus[seq - 1]) {
            return Err(format!("{user}: FETCH header of message {seq} differs from the corpus"));
        }
    }

    let mut seqs = [0usize; 3];
    for s in seqs.iter_mut() {
        *s = 1 + rng.below(n as u64) as usize;
    }
    let t = Instant::now();
    let r = c.cmd(&format!("FETCH {},{},{} (BODY.PEEK[])", seqs[0], seqs[1], seqs[2])).await?;
    st.time("FETCH body", t);
    st.ops += 1;
    let got = fetched(&r);
    let mut distinct = seqs.to_vec();
    distinct.sort();
    distinct.dedup();
    if got.len() != distinct.len() {
        return Err(format!("{user}: FETCH {:?} bodies: {} messages came back", seqs, got.len()));
    }
    for (seq, lits) in got {
        if !distinct.contains(&seq) || lits.len() != 1 || lits[0] != corpus[seq - 1] {
            return Err(format!("{user}: FETCH body of message {seq} differs from the corpus"));
        }
    }

    let target = 1 + rng.below(n as u64) as usize;
    let sign = if iteration % 2 == 0 { '+' } else { '-' };
    let t = Instant::now();
    c.cmd(&format!("STORE {target} {sign}FLAGS (\\Flagged)")).await?;
    st.time("STORE flags", t);
    st.ops += 1;

    let msg = &extra[rng.below(extra.len() as u64) as usize];
    let t = Instant::now();
    let uid = c.append(msg).await?;
    st.time("APPEND", t);
    st.ops += 1;

    let t = Instant::now();
    c.cmd(&format!("UID STORE {uid} +FLAGS (\\Deleted)")).await?;
    st.time("UID STORE deleted", t);
    st.ops += 1;

    let t = Instant::now();
    let r = c.cmd("EXPUNGE").await?;
    st.time("EXPUNGE", t);
    st.ops += 1;
    let expunged: Vec<&Line> = r.untagged.iter().filter(|l| l.text.ends_with(b" EXPUNGE\r\n")).collect();
    if expunged.len() != 1 || !expunged[0].text.starts_with(format!("* {} EXPUNGE", n + 1).as_bytes()) {
        let shown: Vec<String> = expunged.iter().map(|l| show(&l.text)).collect();
        return Err(format!("{user}: EXPUNGE should remove message {} only, got {:?}", n + 1, shown));
    }

    let t = Instant::now();
    c.cmd("LOGOUT").await?;
    st.time("LOGOUT", t);
    st.ops += 1;
    st.loops += 1;
    Ok(())
}

// ---- main ---------------------------------------------------------------------------------------------

struct Args(HashMap<String, String>);
impl Args {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.as_str())
    }
    fn req(&self, k: &str) -> String {
        self.get(k).unwrap_or_else(|| die(&format!("--{k} is required"))).to_string()
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        self.get(k).map(|v| v.parse().unwrap_or_else(|_| die(&format!("--{k}: not a number")))).unwrap_or(default)
    }
}

fn die(msg: &str) -> ! {
    eprintln!("mailload: {msg}");
    std::process::exit(2)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn report(mode: &str, st: &mut Stats, elapsed: f64, cpu: f64) -> i32 {
    let rate = if mode == "pop3" { st.messages as f64 / elapsed } else { st.ops as f64 / elapsed };
    println!(
        "RESULT mode={mode} elapsed={elapsed:.3} ops={} loops={} messages={} rate={rate:.1} errors={} driver_cpu={cpu:.2}",
        st.ops,
        st.loops,
        st.messages,
        st.errors.len()
    );
    let mut kinds: Vec<_> = st.lat.keys().copied().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(st.lat[k].iter().map(|&x| x as u64).sum::<u64>()));
    for k in kinds {
        let v = st.lat.get_mut(k).unwrap();
        v.sort_unstable();
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1000.0;
        println!(
            "OP {:<18} n={:<7} mean_ms={:.3} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            k.replace(' ', "_"),
            v.len(),
            mean,
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
    for e in st.errors.iter().take(10) {
        eprintln!("mailload: ERROR: {e}");
    }
    if st.errors.is_empty() {
        0
    } else {
        eprintln!("mailload: {} error(s)", st.errors.len());
        1
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mode = argv.first().cloned().unwrap_or_else(|| die("usage: mailload fill|pop3|imap --port P --users a,b --password PW ..."));
    let mut map = HashMap::new();
    let mut it = argv[1..].iter();
    while let Some(k) = it.next() {
        let k = k.strip_prefix("--").unwrap_or_else(|| die(&format!("unexpected argument {k}")));
        let v = it.next().unwrap_or_else(|| die(&format!("--{k} needs a value")));
        map.insert(k.to_string(), v.clone());
    }
    let args = Args(map);
    let port: u16 = args.req("port").parse().unwrap_or_else(|_| die("--port: not a port"));
    let users: Vec<String> = args.req("users").split(',').map(String::from).collect();
    let password = args.req("password");
    let messages: usize = args.num("messages", 2000);
    if messages < 10 {
        die("--messages must be at least 10");
    }
    let corpus: Vec<Vec<u8>> = (0..messages).map(message).collect();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, async move {
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        let mut st = Stats::default();
        match mode.as_str() {
            "fill" => {
                let corpus = std::rc::Rc::new(corpus);
                let tasks: Vec<_> = users
                    .iter()
                    .map(|u| tokio::task::spawn_local(fill_user(port, u.clone(), password.clone(), corpus.clone())))
                    .collect();
                for t in tasks {
                    match t.await {
                        Ok(Ok(())) => st.messages += corpus.len() as u64,
                        Ok(Err(e)) => st.errors.push(e),
                        Err(e) => st.errors.push(e.to_string()),
                    }
                }
            }
            "pop3" => {
                let reps: usize = args.num("reps", 10);
                let corpus = std::rc::Rc::new(corpus);
                let tasks: Vec<_> = users
                    .iter()
                    .map(|u| {
                        let (u, pw, corpus) = (u.clone(), password.clone(), corpus.clone());
                        tokio::task::spawn_local(async move {
                            let mut st = Stats::default();
                            for rep in 0..reps {
                                if let Err(e) = pop3_session(port, &u, &pw, &corpus, &mut st).await {
                                    st.errors.push(format!("{u} session {}: {e}", rep + 1));
                                    break;
                                }
                                st.loops += 1;
                            }
                            st
                        })
                    })
                    .collect();
                for t in tasks {
                    st.merge(t.await.expect("pop3 worker"));
                }
                st.ops = st.messages;
            }
            "imap" => {
                let seconds: f64 = args.num("seconds", 30.0);
                let seed: u64 = args.num("seed", 1);
                let deadline = start + Duration::from_secs_f64(seconds);
                let corpus = std::rc::Rc::new(corpus);
                let extra = std::rc::Rc::new((0..50).map(|i| message(100_000 + i)).collect::<Vec<_>>());
                let tasks: Vec<_> = users
                    .iter()
                    .enumerate()
                    .map(|(k, u)| {
                        let (u, pw, corpus, extra) = (u.clone(), password.clone(), corpus.clone(), extra.clone());
                        tokio::task::spawn_local(async move {
                            let mut st = Stats::default();
                            let mut rng = Rng::new(seed * 1000 + k as u64);
                            let mut i = 0;
                            while Instant::now() < deadline {
                                if let Err(e) = imap_loop(port, &u, &pw, &corpus, &extra, &mut rng, i, &mut st).await {
                                    st.errors.push(format!("{u} loop {}: {e}", i + 1));
                                    break;
                                }
                                i += 1;
                            }
                            st
                        })
                    })
                    .collect();
                for t in tasks {
                    st.merge(t.await.expect("imap client"));
                }
            }
            other => die(&format!("unknown mode {other}")),
        }
        let elapsed = start.elapsed().as_secs_f64();
        report(&mode, &mut st, elapsed, cpu_seconds() - cpu0)
    });
    std::process::exit(code);
}
