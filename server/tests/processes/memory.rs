//! Memory stays bounded under large uploads (Graph and EWS), and a stalled upload is cut
//! off.

use super::*;

/// The two tests that send hundreds of megabytes at once take turns: run side by side on a
/// two-core machine, the EWS one once failed with an upload's connection cut while the
/// other was sending its 1.2 GB.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server's peak resident memory (VmHWM), in bytes.
fn peak_rss(proc: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.0.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// 40 citizens (each their own address behind the proxy) send a 30 MB file at once for a
/// real slot; the files are streamed to disk within the limits, so the server's memory
/// stays bounded whatever they send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_large_uploads_at_once_keep_memory_bounded() {
    let _alone = HEAVY.lock().await;
    let setup = Setup::with("uploads", "trusted_proxies = [\"127.0.0.1\"]");
    let http = setup.http.clone();
    let (server_proc, server) = start_server(&setup.config);
    let slot = free_slot(&http, &server).await;
    let before = peak_rss(&server_proc);
    // A PDF of 30 MB (over the 25 MB a file may have): one buffer, shared by every client.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(30 * 1024 * 1024, b'0');
    let pdf = bytes::Bytes::from(pdf);
    let mut tasks = Vec::new();
    for i in 0..40u8 {
        let (http, server, slot, pdf) = (http.clone(), server.clone(), slot.clone(), pdf.clone());
        tasks.push(tokio::spawn(async move {
            let form = booking(&slot, &format!("k{i}"), &[]).part(
                "file",
                reqwest::multipart::Part::stream(pdf).file_name("stor.pdf"),
            );
            http.post(format!("http://{server}/api/book_form"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .multipart(form)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    // Each was refused as too large once 25 MB had arrived (413), or cut off.
    assert_eq!(statuses.len(), 40);
    assert!(
        statuses.iter().all(|s| !matches!(s, Ok(200))),
        "a 30 MB file is over the limit: {statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| matches!(s, Ok(413))),
        "{statuses:?}"
    );
    // And a 20 MB file within the limits is booked: read back from its temporary file a
    // chunk at a time into the upload session.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(20 * 1024 * 1024, b'1');
    let form = booking(&slot, "ok", &[]).part(
        "file",
        reqwest::multipart::Part::bytes(pdf).file_name("stor.pdf"),
    );
    let res = http
        .post(format!("http://{server}/api/book_form"))
        .header("x-forwarded-for", "198.51.100.200")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    let event = sim_event(&http, &setup.sim, &event_id_of(&slot)).await;
    assert_eq!(event["attachments"][0]["size"], 20 * 1024 * 1024);
    let peak = peak_rss(&server_proc);
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
    eprintln!(
        "uploads: peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
}

/// A client that starts a file and then stops sending is cut off after the body time-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_cut_off() {
    let setup = Setup::with("stall", "body_timeout_seconds = 1");
    let http = setup.http.clone();
    let (_server_proc, server) = start_server(&setup.config);
    let slot = free_slot(&http, &server).await;
    // The first bytes of a file, and then nothing: the body never ends.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    tx.send(Ok(bytes::Bytes::from_static(b"%PDF-1.7\n")))
        .await
        .unwrap();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = reqwest::Body::wrap_stream(stream);
    let form = booking(&slot, "slow", &[]).part(
        "file",
        reqwest::multipart::Part::stream(body).file_name("langsom.pdf"),
    );
    // (The bound only keeps a broken server from hanging the test run.)
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        http.post(format!("http://{server}/api/book_form"))
            .multipart(form)
            .send(),
    )
    .await
    .expect("the server never cut the stalled upload off");
    // Cut off by the server: an error status, or the connection closed.
    assert!(
        res.as_ref().map_or(true, |r| !r.status().is_success()),
        "{res:?}"
    );
    drop(tx);
    // Nothing was written to the calendar.
    let event = sim_event(&http, &setup.sim, &event_id_of(&slot)).await;
    assert!(
        !event["subject"].as_str().unwrap().contains(" - "),
        "{event}"
    );
}

/// 8 citizens at once book on the EWS calendar, each with a 25 MB file: EWS takes a file in
/// one request, base64-encoded, and Booket streams it there from the temporary file a chunk
/// at a time, so the server's memory stays bounded (it would hold each file four or five
/// times over as strings: about a gigabyte).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_large_ews_bookings_at_once_keep_memory_bounded() {
    let _alone = HEAVY.lock().await;
    let setup = Setup::with("ews-uploads", "trusted_proxies = [\"127.0.0.1\"]");
    let password = setup.dir.join("ews-password");
    std::fs::write(&password, server::sim::seed::DEMO_EWS_PASSWORD).unwrap();
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        r#"
[[calendars]]
name = "Jobcenter"
outlook_calendar = "{calendar}"
owner = "{owner}"
api = "ews"
ews_url = "http://{sim}/EWS/Exchange.asmx"
username = "{user}"
domain = "{domain}"
password = {{ file = "{password}" }}
access = "impersonation"
{form}"#,
        form = form_toml("jobcenter", "Jobcenter", "Jobcenter"),
        calendar = server::sim::seed::DEMO_EWS_CALENDAR,
        owner = server::sim::seed::DEMO_EWS_OWNER,
        sim = setup.sim,
        user = server::sim::seed::DEMO_EWS_USER,
        domain = server::sim::seed::DEMO_EWS_DOMAIN,
        password = password.display(),
    ));
    std::fs::write(&setup.config, config).unwrap();
    let http = setup.http.clone();
    let (server_proc, server) = start_server(&setup.config);
    // Eight free slots of the EWS calendar (the next weeks).
    let mut slots = Vec::new();
    for weeks in 1..4 {
        let week = (chrono::Utc::now() + chrono::TimeDelta::days(7 * weeks))
            .format("%Y-%m-%d")
            .to_string();
        let answer = week_of(&http, &server, "jobcenter", &week).await;
        for s in answer["slots"].as_array().unwrap() {
            if s["state"] == "free" && slots.len() < 8 {
                slots.push(s["id"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(slots.len(), 8);
    let before = peak_rss(&server_proc);
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(25 * 1024 * 1024, b'2');
    let pdf = bytes::Bytes::from(pdf);
    let mut tasks = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let (http, server, slot, pdf) = (http.clone(), server.clone(), slot.clone(), pdf.clone());
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new()
                .text("form", "jobcenter")
                .text("element", "tid")
                .text("slot_id", slot)
                .text("idempotency_key", format!("k-ews-{i}"))
                .part(
                    "file",
                    reqwest::multipart::Part::stream(pdf).file_name("stor.pdf"),
                );
            let res = http
                .post(format!("http://{server}/api/book_form"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    for slot in &slots {
        let event = sim_event(&http, &setup.sim, &event_id_of(slot)).await;
        assert_eq!(event["attachments"][0]["size"], 25 * 1024 * 1024, "{event}");
    }
    let peak = peak_rss(&server_proc);
    eprintln!(
        "ews uploads: peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
}
