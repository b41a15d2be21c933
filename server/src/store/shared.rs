//! The store on Redis: pooled connections (bb8), the leases, counters, places and places in
//! flight as Lua scripts (one round trip each, atomic on the server), what is kept for the
//! other instances, and the notes on one pub/sub channel.
//!
//! (About 800 lines: every command Booket sends to the store is here, each with its Lua
//! script beside the code that calls it; split, a script and its caller would part.)

use super::{Heard, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Every key Booket writes starts with this.
const PREFIX: &str = "booket:";
/// When the store was first seen empty (its own clock, in milliseconds); no lease is handed
/// out until one lease length after it.
const EPOCH: &str = "booket:epoch";
/// The channel the notes go on.
const CHANNEL: &str = "booket:notes";
/// Each live instance's key (expires one lease after its last heartbeat).
const INSTANCE: &str = "booket:instance:";

/// The store as `booket check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub version: String,
    /// `appendonly yes`.
    pub append_only: bool,
    /// RDB snapshots configured (`None`: the store does not say).
    pub snapshots: Option<bool>,
    /// Instances that said they are alive within the last lease (this one not counted
    /// unless it runs).
    pub instances: usize,
}

/// Takes the lease `KEYS[1]` for token `ARGV[1]` for `ARGV[2]` ms: 1 taken, 0 held by
/// another, -1 the store started empty less than one lease ago. The epoch is set by the
/// first call that finds none, so a store that lost its keys (a restart without
/// persistence) waits one lease before the first lease.
const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = tonumber(redis.call('GET', KEYS[2]))
if not epoch then
  redis.call('SET', KEYS[2], now)
  epoch = now
end
if now < epoch + tonumber(ARGV[2]) then
  return -1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"#;

/// Extends the lease `KEYS[1]` by `ARGV[2]` ms if token `ARGV[1]` still holds it: 1, else 0.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Takes a place for member `ARGV[2]` in every set `KEYS[i]` under its cap `ARGV[4 + i]`,
/// counting the members whose time (their score) is after `ARGV[1]`; a member already in
/// the first set keeps its place. The place lasts until `ARGV[3]`; each set lives at least
/// `ARGV[4]` ms more. 1 taken, 2 kept, 0 a cap is reached.
const TAKE_PLACE: &str = r#"
local now = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
end
local mine = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not mine then
  for i, key in ipairs(KEYS) do
    if redis.call('ZCARD', key) >= tonumber(ARGV[4 + i]) then
      return 0
    end
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[3], ARGV[2])
  if redis.call('PTTL', key) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', key, ARGV[4])
  end
end
if mine then
  return 2
end
return 1
"#;

/// Counts one call in each window `KEYS[i]` (`ARGV[1]` ms from its first call) under its
/// limit `ARGV[1 + i]`: 0 counted, else the ms until the fullest window ends.
const COUNT: &str = r#"
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[1 + i]) then
    return math.max(redis.call('PTTL', key), 1)
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 0
"#;

/// Takes one of `ARGV[2]` places in flight `KEYS[1]` for ticket `ARGV[1]` for `ARGV[3]` ms
/// (tickets past their time are given up first): 1 taken, 0 all taken.
const TAKE_IN_FLIGHT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#;

/// Gives ticket `ARGV[1]` in `KEYS[1]` another `ARGV[2]` ms if it still has its place.
const RENEW_IN_FLIGHT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Gives the lease `KEYS[1]` back if token `ARGV[1]` still holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Deletes `KEYS[1]` if its value begins with `ARGV[1]`, in one step (a value written
/// between a GET and a DEL is never deleted). 1 deleted, 0 not.
const FORGET_IF: &str = r#"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

pub struct Shared {
    pool: bb8::Pool<redis::Client>,
    /// For the pub/sub connection (one, outside the pool).
    client: redis::Client,
    /// This process among the instances (random; tells its own notes apart).
    instance: String,
    lease: Duration,
    /// The longest one write may take: a lease with less left is not written under.
    deadline: Duration,
    /// Leases this instance holds: until when each is surely held (a renewal's send time
    /// plus one lease length).
    held: Mutex<HashMap<String, Arc<Mutex<Instant>>>>,
    /// The instances alive on the store (this one included), as the last heartbeat counted
    /// them: Exchange's limits are shared among them.
    instances: Arc<std::sync::atomic::AtomicUsize>,
    /// After the store could not be reached, it is not asked again until then (a crowd
    /// behind a store that is down costs no connection attempt each).
    down_until: Mutex<Option<Instant>>,
    /// The handle commands are sent on, and until when (see [`Shared::connection`]).
    current: Mutex<Option<(redis::aio::MultiplexedConnection, Instant)>>,
    scripts: Scripts,
}

/// Millisecond time on Booket's clock (the places' times are the holds').
pub type Millis = i64;

/// The longest wait for the store's answer to one command: a store that stops answering
/// (a network that drops packets) is then "unreachable" like one that is down.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Sets [`ANSWER_WITHIN`] on every connection the pool makes.
#[derive(Debug)]
struct AnswerWithin;

impl bb8::CustomizeConnection<redis::aio::MultiplexedConnection, redis::RedisError>
    for AnswerWithin
{
    fn on_acquire<'a>(
        &'a self,
        connection: &'a mut redis::aio::MultiplexedConnection,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), redis::RedisError>> + Send + 'a>,
    > {
        connection.set_response_timeout(ANSWER_WITHIN);
        Box::pin(async { Ok(()) })
    }
}

/// How often an instance says it is alive (and counts the others).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long commands share one pooled connection before the pool is asked (and checks it)
/// again.
const REUSE_FOR: Duration = Duration::from_millis(500);

/// How long a store found unreachable is not asked again.
const DOWN_FOR: Duration = Duration::from_secs(1);

struct Scripts {
    take_in_flight: redis::Script,
    renew_in_flight: redis::Script,
    count: redis::Script,
    take_place: redis::Script,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    forget_if: redis::Script,
}

/// How long a place in flight is held in the store without renewal: an instance that
/// stops (killed mid-call) leaves its places taken no longer than this.
const IN_FLIGHT_HOLD: Duration = Duration::from_secs(10);

/// One of Exchange's places in flight, taken in the store for this instance: renewed while
/// its call runs longer than a third of [`IN_FLIGHT_HOLD`], given back when dropped.
pub struct InFlight {
    shared: Arc<Shared>,
    key: String,
    token: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.renewer.abort();
        let (shared, key, token) = (self.shared.clone(), self.key.clone(), self.token.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let given: Result<(), StoreError> = async {
                    let mut c = shared.connection().await?;
                    redis::cmd("ZREM")
                        .arg(&key)
                        .arg(&token)
                        .query_async::<()>(&mut c)
                        .await
                        .map_err(unreachable)
                }
                .await;
                // Not given back: its time runs out by itself.
                if let Err(e) = given {
                    tracing::debug!("a place in flight was not given back: {e}");
                }
            });
        }
    }
}

/// A lease this instance holds: renewed in the background until dropped, then given back.
pub struct Held {
    shared: Arc<Shared>,
    key: String,
    token: String,
    renewer: tokio::task::JoinHandle<()>,
}

/// Whether a failure to get a connection means the store is down (and is not to be asked
/// for [`DOWN_FOR`]): connecting failed, or no connection could be made in time. Every
/// connection busy with other commands (a crowd, `connections` still open) is not that: the
/// call fails, the next is asked as usual.
fn is_down(e: &bb8::RunError<redis::RedisError>, connections: u32) -> bool {
    match e {
        bb8::RunError::User(_) => true,
        bb8::RunError::TimedOut => connections == 0,
    }
}

fn unreachable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unreachable(e.to_string())
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Shared {
    pub(super) fn new(
        url: &str,
        lease: Duration,
        deadline: Duration,
    ) -> Result<Shared, StoreError> {
        // (redis' own message may quote the URL, password and all: not passed on.)
        let client = redis::Client::open(url).map_err(|_| {
            StoreError::Unreachable(
                "the store's URL is not one of redis://, rediss:// or redis+unix://".into(),
            )
        })?;
        // A store that is down is found out within half a second (no retrying inside the
        // pool), and then not asked again for a second, so the writers queued behind one
        // event's lock are told "try again" one after the other without each waiting.
        let pool = bb8::Pool::builder()
            .max_size(16)
            .connection_timeout(Duration::from_millis(500))
            .retry_connection(false)
            .connection_customizer(Box::new(AnswerWithin))
            .build_unchecked(client.clone());
        Ok(Shared {
            pool,
            client,
            instance: random_hex(),
            lease,
            deadline,
            held: Mutex::default(),
            down_until: Mutex::default(),
            current: Mutex::default(),
            instances: Arc::new(std::sync::atomic::AtomicUsize::new(1)),
            scripts: Scripts {
                take_in_flight: redis::Script::new(TAKE_IN_FLIGHT),
                renew_in_flight: redis::Script::new(RENEW_IN_FLIGHT),
                count: redis::Script::new(COUNT),
                take_place: redis::Script::new(TAKE_PLACE),
                acquire: redis::Script::new(ACQUIRE),
                renew: redis::Script::new(RENEW),
                release: redis::Script::new(RELEASE),
                forget_if: redis::Script::new(FORGET_IF),
            },
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Mutex<Instant>>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection to send commands on. The pool keeps the connections (made, checked with
    /// a PING when taken, replaced when broken); each is multiplexed — it carries many
    /// commands at once, each answered in turn — so commands share a handle on one instead
    /// of queueing for one each, and the pool is asked (and its PING paid) once per
    /// [`REUSE_FOR`], not once per command. A connection that broke meanwhile fails the
    /// commands sent on it (writes then fail closed) until the next ask replaces it.
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        let now = Instant::now();
        {
            let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
            if down.is_some_and(|until| now < until) {
                return Err(StoreError::Unreachable(
                    "was unreachable a moment ago".into(),
                ));
            }
        }
        if let Some((handle, until)) = &*self.current() {
            if now < *until {
                return Ok(handle.clone());
            }
        }
        let pooled = self.pool.get().await.map_err(|e| {
            if is_down(&e, self.pool.state().connections) {
                *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + DOWN_FOR);
            }
            unreachable(e)
        })?;
        let handle = (*pooled).clone();
        *self.current() = Some((handle.clone(), Instant::now() + REUSE_FOR));
        Ok(handle)
    }

    fn current(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(redis::aio::MultiplexedConnection, Instant)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `booket check` reports of the store.
    pub async fn facts(&self) -> Result<Facts, StoreError> {
        let mut c = self.connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut c)
            .await
            .map_err(unreachable)?;
        let persistence: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut c)
            .await
            .map_err(unreachable)?;
        let field = |text: &str, name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        // (A managed store may refuse CONFIG: then whether it snapshots is unknown.)
        let save: Option<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async::<Vec<String>>(&mut c)
            .await
            .ok()
            .and_then(|v| v.get(1).cloned());
        drop(c);
        let instances = self.live_instances().await?;
        Ok(Facts {
            version: field(&info, "redis_version").unwrap_or_else(|| "?".into()),
            append_only: field(&persistence, "aof_enabled").as_deref() == Some("1"),
            snapshots: save.map(|s| !s.trim().is_empty()),
            instances,
        })
    }

    /// The instances that said they are alive within the last lease.
    async fn live_instances(&self) -> Result<usize, StoreError> {
        let mut c = self.connection().await?;
        let mut instances = 0;
        let mut iter: redis::AsyncIter<'_, String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(format!("{INSTANCE}*"))
            .clone()
            .iter_async(&mut c)
            .await
            .map_err(unreachable)?;
        while let Some(key) = futures::StreamExt::next(&mut iter).await {
            if key.is_ok() {
                instances += 1;
            }
        }
        Ok(instances)
    }

    /// How many instances share Exchange's limits (kept by the heartbeat).
    pub fn instances(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.instances.clone()
    }

    /// Says every third of a lease that this instance is alive (for `booket check`, and
    /// the shares of Exchange's budgets).
    fn spawn_heartbeat(self: Arc<Self>) {
        let key = format!("{INSTANCE}{}", self.instance);
        tokio::spawn(async move {
            loop {
                let beat: Result<(), StoreError> = async {
                    let mut c = self.connection().await?;
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(1)
                        .arg("PX")
                        .arg(millis(self.lease))
                        .query_async::<()>(&mut c)
                        .await
                        .map_err(unreachable)
                }
                .await;
                match beat {
                    Ok(()) => match self.live_instances().await {
                        Ok(n) => self
                            .instances
                            .store(n.max(1), std::sync::atomic::Ordering::Relaxed),
                        Err(e) => tracing::debug!("instances not counted: {e}"),
                    },
                    Err(e) => tracing::debug!("no heartbeat: {e}"),
                }
                tokio::time::sleep(HEARTBEAT.min(self.lease / 3)).await;
            }
        });
    }

    /// Takes one of the `places` in flight named `name` across the instances, until the
    /// returned place is dropped; `None` when all are taken.
    pub async fn take_in_flight(
        self: Arc<Self>,
        name: &str,
        places: usize,
    ) -> Result<Option<InFlight>, StoreError> {
        let key = format!("{PREFIX}in-flight:{name}");
        let token = random_hex();
        let taken: i64 = {
            let mut c = self.connection().await?;
            self.scripts
                .take_in_flight
                .key(&key)
                .arg(&token)
                .arg(places)
                .arg(millis(IN_FLIGHT_HOLD))
                .invoke_async(&mut c)
                .await
                .map_err(unreachable)?
        };
        if taken != 1 {
            return Ok(None);
        }
        let renewer = tokio::spawn({
            let (shared, key, token) = (self.clone(), key.clone(), token.clone());
            async move {
                loop {
                    tokio::time::sleep(IN_FLIGHT_HOLD / 3).await;
                    let renewed: Result<i64, StoreError> = async {
                        let mut c = shared.connection().await?;
                        shared
                            .scripts
                            .renew_in_flight
                            .key(&key)
                            .arg(&token)
                            .arg(millis(IN_FLIGHT_HOLD))
                            .invoke_async(&mut c)
                            .await
                            .map_err(unreachable)
                    }
                    .await;
                    if let Err(e) = renewed {
                        tracing::debug!("a place in flight was not renewed: {e}");
                    }
                }
            }
        });
        Ok(Some(InFlight {
            shared: self,
            key,
            token,
            renewer,
        }))
    }

    /// See [`super::Store::take_place`].
    pub(super) async fn take_place(
        &self,
        sets: &[(&str, usize)],
        member: &str,
        now: Millis,
        until: Millis,
    ) -> Result<super::Place, StoreError> {
        let mut c = self.connection().await?;
        let mut script = self.scripts.take_place.prepare_invoke();
        for (set, _) in sets {
            script.key(format!("{PREFIX}places:{set}"));
        }
        script
            .arg(now)
            .arg(member)
            .arg(until)
            .arg((until - now).max(1) + 60_000);
        for (_, cap) in sets {
            script.arg(*cap);
        }
        let taken: i64 = script.invoke_async(&mut c).await.map_err(unreachable)?;
        Ok(match taken {
            1 => super::Place::New,
            2 => super::Place::Kept,
            _ => super::Place::Refused,
        })
    }

    /// See [`super::Store::count`].
    pub(super) async fn count(
        &self,
        windows: &[(&str, u32)],
        window: Duration,
    ) -> Result<Option<Duration>, StoreError> {
        let mut c = self.connection().await?;
        let mut script = self.scripts.count.prepare_invoke();
        for (name, _) in windows {
            script.key(format!("{PREFIX}count:{name}"));
        }
        script.arg(millis(window));
        for (_, limit) in windows {
            script.arg(*limit);
        }
        let wait: u64 = script.invoke_async(&mut c).await.map_err(unreachable)?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    /// See [`super::Store::keep`].
    pub(super) async fn keep(
        &self,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.connection().await?;
        redis::cmd("SET")
            .arg(format!("{PREFIX}kept:{name}"))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl).max(1))
            .query_async::<()>(&mut c)
            .await
            .map_err(unreachable)
    }

    /// See [`super::Store::kept`].
    pub(super) async fn kept(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.connection().await?;
        redis::cmd("GET")
            .arg(format!("{PREFIX}kept:{name}"))
            .query_async(&mut c)
            .await
            .map_err(unreachable)
    }

    /// See [`super::Store::forget`].
    pub(super) async fn forget(&self, name: &str) -> Result<(), StoreError> {
        let mut c = self.connection().await?;
        redis::cmd("DEL")
            .arg(format!("{PREFIX}kept:{name}"))
            .query_async::<()>(&mut c)
            .await
            .map_err(unreachable)
    }

    /// See [`super::Store::forget_if`].
    pub(super) async fn forget_if(&self, name: &str, prefix: &[u8]) -> Result<bool, StoreError> {
        let mut c = self.connection().await?;
        let deleted: i64 = self
            .scripts
            .forget_if
            .key(format!("{PREFIX}kept:{name}"))
            .arg(prefix)
            .invoke_async(&mut c)
            .await
            .map_err(unreachable)?;
        Ok(deleted == 1)
    }

    /// See [`super::Store::give_back_place`].
    pub(super) async fn give_back_place(
        &self,
        sets: &[&str],
        member: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.connection().await?;
        let mut pipe = redis::pipe();
        for set in sets {
            pipe.cmd("ZREM")
                .arg(format!("{PREFIX}places:{set}"))
                .arg(member)
                .ignore();
        }
        pipe.query_async::<()>(&mut c).await.map_err(unreachable)
    }

    pub(super) async fn acquire(
        self: Arc<Self>,
        name: &str,
        wait: bool,
    ) -> Result<Held, StoreError> {
        let key = format!("{PREFIX}lease:{name}");
        let token = random_hex();
        let began = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let sent = Instant::now();
            let got: i64 = {
                let mut c = self.connection().await?;
                self.scripts
                    .acquire
                    .key(&key)
                    .key(EPOCH)
                    .arg(&token)
                    .arg(millis(self.lease))
                    .invoke_async(&mut c)
                    .await
                    .map_err(unreachable)?
            };
            match got {
                1 => {
                    let until = Arc::new(Mutex::new(sent + self.lease));
                    self.held().insert(key.clone(), until.clone());
                    let renewer =
                        tokio::spawn(self.clone().renew(key.clone(), token.clone(), until));
                    return Ok(Held {
                        shared: self,
                        key,
                        token,
                        renewer,
                    });
                }
                -1 => return Err(StoreError::Starting),
                _ if !wait || began.elapsed() + pause > self.deadline => {
                    return Err(StoreError::Busy)
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Renews the lease every third of its length while it is held; a renewal the store
    /// refuses (it lost the key: restarted) ends the lease here at once.
    async fn renew(self: Arc<Self>, key: String, token: String, until: Arc<Mutex<Instant>>) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            let sent = Instant::now();
            let renewed: Result<i64, StoreError> = async {
                let mut c = self.connection().await?;
                self.scripts
                    .renew
                    .key(&key)
                    .arg(&token)
                    .arg(millis(self.lease))
                    .invoke_async(&mut c)
                    .await
                    .map_err(unreachable)
            }
            .await;
            let mut until = until.lock().unwrap_or_else(|e| e.into_inner());
            match renewed {
                Ok(1) => *until = sent + self.lease,
                Ok(_) => {
                    *until = sent;
                    tracing::warn!("a lease was lost (the shared store no longer has it); its write is not made");
                    return;
                }
                // It runs out by itself unless a later renewal gets through.
                Err(e) => tracing::warn!("could not renew a lease: {e}"),
            }
        }
    }

    pub(super) fn may_write(&self, name: &str) -> bool {
        let key = format!("{PREFIX}lease:{name}");
        let Some(until) = self.held().get(&key).cloned() else {
            return false;
        };
        let until = *until.lock().unwrap_or_else(|e| e.into_inner());
        until.saturating_duration_since(Instant::now()) > self.deadline
    }

    pub(super) async fn tell(&self, note: &[u8]) {
        let mut message = Vec::with_capacity(self.instance.len() + 1 + note.len());
        message.extend_from_slice(self.instance.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(note);
        let sent: Result<(), StoreError> = async {
            let mut c = self.connection().await?;
            redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(message)
                .query_async::<i64>(&mut c)
                .await
                .map(|_| ())
                .map_err(unreachable)
        }
        .await;
        if let Err(e) = sent {
            // The others' caches catch up within their time to live.
            tracing::warn!("could not tell the other instances of a write: {e}");
        }
    }

    /// Subscribes (again whenever the subscription is lost) and passes on the other
    /// instances' notes; after each (re)subscription a [`Heard::Gap`].
    pub(super) fn listen(self: Arc<Self>) -> tokio::sync::mpsc::Receiver<Heard> {
        use futures::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        self.clone().spawn_heartbeat();
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                match self.client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                        Ok(()) => {
                            pause = Duration::from_millis(100);
                            if tx.send(Heard::Gap).await.is_err() {
                                return;
                            }
                            let mut messages = pubsub.into_on_message();
                            while let Some(m) = messages.next().await {
                                let payload = m.get_payload_bytes();
                                let Some(at) = payload.iter().position(|&b| b == b'\n') else {
                                    continue;
                                };
                                if &payload[..at] == self.instance.as_bytes() {
                                    continue;
                                }
                                if tx
                                    .send(Heard::Note(payload[at + 1..].to_vec()))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            tracing::warn!("the subscription to the other instances' notes ended; subscribing again");
                        }
                        Err(e) => tracing::warn!(
                            "cannot subscribe to the other instances' notes: {}",
                            unreachable(e)
                        ),
                    },
                    Err(e) => tracing::warn!(
                        "cannot subscribe to the other instances' notes: {}",
                        unreachable(e)
                    ),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
        rx
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
        self.shared.held().remove(&self.key);
        let (shared, key, token) = (self.shared.clone(), self.key.clone(), self.token.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released: Result<i64, StoreError> = async {
                    let mut c = shared.connection().await?;
                    shared
                        .scripts
                        .release
                        .key(&key)
                        .arg(&token)
                        .invoke_async(&mut c)
                        .await
                        .map_err(unreachable)
                }
                .await;
                // Not given back: it runs out by itself after one lease.
                if let Err(e) = released {
                    tracing::warn!("could not give a lease back: {e}");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_down;

    #[test]
    fn a_busy_pool_is_not_a_store_that_is_down() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_down(&bb8::RunError::User(refused), 0));
        // No connection made within the time: the store does not answer.
        assert!(is_down(&bb8::RunError::TimedOut, 0));
        // Every open connection busy: a crowd, not an outage.
        assert!(!is_down(&bb8::RunError::TimedOut, 16));
    }
}
