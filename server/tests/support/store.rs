//! A real Redis for the tests that run several instances: started with the project's own
//! `scripts/redis.sh` on a unix socket in a fresh directory, stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command};

pub struct RedisServer {
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until it answers. Marks it as up for longer than a lease (its
    /// epoch in the past), as a store that has been running is: the tests of a store that
    /// starts empty restart it ([`RedisServer::restart_empty`]).
    pub async fn start() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "booket-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut r = RedisServer { dir, child: None };
        r.spawn().await;
        r.mark_up_for_a_lease().await;
        r
    }

    /// Marks the store as up for longer than a lease (as an operator who knows no lease
    /// from before can be in use would): leases are handed out at once.
    pub async fn mark_up_for_a_lease(&self) {
        let mut c = self.connection().await;
        let _: () = redis::cmd("SET")
            .arg("booket:epoch")
            .arg(0)
            .query_async(&mut c)
            .await
            .unwrap();
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }

    async fn spawn(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh");
        let child = Command::new("bash")
            .arg(script)
            .arg(&self.dir)
            .spawn()
            .expect("redis-server runs (scripts/setup.sh installs it)");
        self.child = Some(child);
        // Until it answers: a fresh server takes a few milliseconds.
        for _ in 0..500 {
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                    if redis::cmd("PING")
                        .query_async::<String>(&mut c)
                        .await
                        .is_ok()
                    {
                        return;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("redis-server did not answer on {}", self.url());
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Kills the server at once (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("redis.sock"));
    }

    /// Starts it again with nothing in it (no persistence), as after a crash.
    pub async fn restart_empty(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
