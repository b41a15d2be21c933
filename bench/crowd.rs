//! The crowd of bench/rush.py, as a compiled program: N citizens let go at one moment,
//! each opens one of the given weeks, picks a random free slot and reserves it; on
//! "taken" it reads the week again and tries another, three tries in all; a full week
//! sends it to the week the answer names as the next free one. Each citizen is its own
//! client (its own forwarded address) and each request its own connection, as a crowd of
//! phones would be.
//!
//! Why not Python: the crowd shares the machine's two cores with the server and the
//! simulator, and Python's parsing of thousands of week answers took CPU the server then
//! lacked (bench/rush-results.md). One thread here, no parsing beyond what a citizen needs.
//! Built as an example of the server package (`cargo build --release --example crowd`),
//! never part of `booket`.
//!
//!   crowd BASE[,BASE2…] N WEEK[,WEEK…]
//! prints one JSON object: when the doors opened (Unix seconds), each citizen's outcome and
//! time to its answer, and when each reserve left.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TRIES: usize = 3;
const DEADLINE: Duration = Duration::from_secs(60);

/// SplitMix64: a citizen's own sequence of choices, the same on every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// One POST on its own connection: the status and the body (de-chunked).
async fn post(base: &str, path: &str, body: &str, client: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         X-Forwarded-For: {client}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::with_capacity(16 * 1024);
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &payload[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 || rest.len() < eol + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 4 + size).min(rest.len())..];
        }
        payload = out;
    }
    Ok((status, payload))
}

#[derive(serde::Deserialize)]
struct Slot {
    id: String,
    state: String,
}

#[derive(serde::Deserialize)]
struct Week {
    slots: Vec<Slot>,
    next_free_week: Option<String>,
}

#[derive(serde::Deserialize)]
struct Refusal {
    error: Option<String>,
}

/// One citizen from the moment the doors open: its outcome.
async fn citizen(
    i: usize,
    base: &str,
    first_week: &str,
    sent: &std::cell::RefCell<Vec<Instant>>,
) -> String {
    let client = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let mut dice = Dice(i as u64);
    let mut week = first_week.to_owned();
    let mut outcome = "no_free".to_owned();
    for _ in 0..TRIES {
        let body = format!("form=plain&element=tid&week={week}");
        let (status, answer) = match post(base, "/api/week", &body, &client).await {
            Ok(v) => v,
            Err(_) => return "week_unanswered".into(),
        };
        if status != 200 {
            return format!("week_{status}");
        }
        let Ok(view) = serde_json::from_slice::<Week>(&answer) else {
            return "week_unreadable".into();
        };
        let free: Vec<&str> = view
            .slots
            .iter()
            .filter(|s| s.state == "free")
            .map(|s| s.id.as_str())
            .collect();
        if free.is_empty() {
            // This week is full: the widget offers the next free week.
            match view.next_free_week {
                Some(next) => {
                    week = next;
                    continue;
                }
                None => return "no_free".into(),
            }
        }
        let slot = free[dice.below(free.len())];
        sent.borrow_mut().push(Instant::now());
        let body = format!("form=plain&element=tid&slot_id={slot}");
        let (status, answer) = match post(base, "/api/reserve", &body, &client).await {
            Ok(v) => v,
            Err(_) => return "reserve_unanswered".into(),
        };
        if status == 200 {
            return "held".into();
        }
        let error = serde_json::from_slice::<Refusal>(&answer)
            .ok()
            .and_then(|r| r.error);
        outcome = error.clone().unwrap_or_else(|| format!("reserve_{status}"));
        if error.as_deref() != Some("taken") {
            break;
        }
    }
    outcome
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bases, n, weeks] = &args[..] else {
        eprintln!("usage: crowd BASE[,BASE2…] N WEEK[,WEEK…]");
        std::process::exit(2);
    };
    let bases: Vec<String> = bases.split(',').map(str::to_owned).collect();
    let n: usize = n.parse().expect("N is a number");
    let weeks: Vec<String> = weeks.split(',').map(str::to_owned).collect();
    // One thread: the crowd should take as little of the machine as it can.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let (opened_wall, results, sent, opened) = local.block_on(&runtime, async {
        let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::with_capacity(n * TRIES)));
        let (go, door) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let base = bases[i % bases.len()].clone();
                let week = weeks[Dice(i as u64 ^ 0xA5A5).below(weeks.len())].clone();
                let sent = sent.clone();
                let mut door = door.clone();
                tokio::task::spawn_local(async move {
                    let _ = door.wait_for(|open| *open).await;
                    let start = Instant::now();
                    let outcome =
                        tokio::time::timeout(DEADLINE, citizen(i, &base, &week, &sent)).await;
                    (outcome.ok(), start.elapsed())
                })
            })
            .collect();
        // Every citizen is waiting at the door.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let opened_wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let opened = Instant::now();
        let _ = go.send(true);
        let mut results = Vec::with_capacity(n);
        for t in tasks {
            results.push(t.await.unwrap_or((None, Duration::ZERO)));
        }
        let sent = sent.borrow().clone();
        (opened_wall, results, sent, opened)
    });
    let results: Vec<serde_json::Value> = results
        .into_iter()
        .map(|(outcome, took)| match outcome {
            Some(o) => serde_json::json!([o, took.as_secs_f64()]),
            None => serde_json::json!(["no_answer", took.as_secs_f64()]),
        })
        .collect();
    let sent: Vec<f64> = sent
        .iter()
        .map(|t| t.duration_since(opened).as_secs_f64())
        .collect();
    println!(
        "{}",
        serde_json::json!({"opened_wall": opened_wall, "results": results, "sent": sent})
    );
}
