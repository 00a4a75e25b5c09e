//! A PostgreSQL outage: requests fail cleanly instead of hanging, `/readyz`
//! says so, and service comes back on its own when the database does. How long a failure
//! and the recovery took is printed (`[outage] …`), not asserted. The outage is made by a TCP relay of the test's own between the application and
//! the shared PostgreSQL, so that nothing else is disturbed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guidepost::config::Settings;
use guidepost_core::hosting::servers::{self, CreateServer};
use guidepost_domain::{McpServer, Timestamp, ToolCall, ToolCallId};
use guidepost_testkit::{TestDatabase, within_hang_guard};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::AbortHandle;

use crate::gateway_fixture::text_of;
use crate::helpers::{Answer, RawMcp, STATELESS_ERA};

/// How long PostgreSQL stays stopped in the outage test (docs/RELIABILITY.md says so).
const OUTAGE: Duration = Duration::from_secs(5);

/// A TCP relay to one address that can be cut (listener and open connections) and
/// brought back on the same port, or frozen: connections stay open and nothing passes.
struct Relay {
    addr: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    async fn start(upstream: &str) -> Self {
        let relay = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: upstream.to_owned(),
            tasks: Arc::default(),
            frozen: Arc::default(),
        };
        relay.listen().await
    }

    async fn listen(mut self) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener: TcpListener = socket.listen(64).unwrap();
        self.addr = listener.local_addr().unwrap();
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let frozen = self.frozen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let frozen = frozen.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let (client_in, client_out) = client.into_split();
                        let (server_in, server_out) = server.into_split();
                        tokio::join!(
                            pump(client_in, server_out, frozen.clone()),
                            pump(server_in, client_out, frozen),
                        );
                    }
                });
                tasks.lock().unwrap().push(relay.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
        self
    }

    /// The database stops answering without closing anything (a frozen host, a lost
    /// network path): what either side sends is swallowed.
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// The database is gone: nothing listens, and open connections drop.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// Copies one direction of a relayed connection until it closes; once `frozen`, what
/// arrives is held and never delivered (the connection stays open).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Organization Acme and its server `acme`, through the services; Acme's first API key
/// and the server.
async fn create_acme(platform: &guidepost_core::Platform) -> (String, McpServer) {
    let (org, key) = guidepost_core::accounts::organizations::create(platform, "Acme")
        .await
        .unwrap();
    let input = CreateServer {
        name: "Acme".into(),
        slug: "acme".into(),
        kind: None,
        auth_mode: None,
        walkthrough_tools_enabled: None,
        support_tool_enabled: None,
        feedback_tool_enabled: None,
        custom_domain: None,
        product_name: None,
        instructions: None,
        allowed_origins: None,
    };
    let server = servers::create(platform, &crate::helpers::operator(&org.id), input)
        .await
        .unwrap();
    (key.plaintext, server)
}

/// Guidepost on the shared PostgreSQL through a relay of the test's own, with a
/// `--store-timeout` of 2 s, and organization Acme's server `acme` (with Acme's API key).
async fn acme_through_relay(
    db: &TestDatabase,
) -> (Relay, guidepost::app::RunningApp, String, McpServer) {
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(&upstream).await;
    let mut through_relay = url.clone();
    through_relay.set_port(Some(relay.addr.port())).unwrap();
    let mut settings = Settings::local(through_relay.to_string());
    settings.store_timeout = Duration::from_secs(2);
    let app = guidepost::app::start(settings).await.unwrap();
    let (key, server) = create_acme(&app.platform).await;
    (relay, app, key, server)
}

/// An export is read from the store while it is sent, after its handler has returned: a
/// database that stops answering then cuts it within `--store-timeout` per statement too
///, instead of holding the answer open until TCP gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_under_way_when_the_database_stops_answering_ends_instead_of_hanging() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let (relay, app, key, server) = acme_through_relay(&db).await;
    // Seeded straight into the database, not through the relay.
    let store = guidepost_store::connect(&db.url).await.unwrap();
    let ada = store
        .end_user_for_tracking_id(&server.org_id, "ada", Timestamp::now())
        .await
        .unwrap();
    // Far more than the socket buffers hold, so that most pages are read only once the
    // client reads on: 4,000 calls of 8 KiB each.
    for batch in 0..8 {
        let calls: Vec<ToolCall> = (0..500)
            .map(|i| ToolCall {
                id: ToolCallId::generate(),
                org_id: server.org_id.clone(),
                server_id: server.id.clone(),
                session_id: None,
                end_user_id: Some(ada.id.clone()),
                tool_name: "search".into(),
                arguments: json!({"q": "x".repeat(8 * 1024), "n": batch * 500 + i}).to_string(),
                result_summary: "ok".into(),
                is_error: false,
                error_code: None,
                duration_us: 100,
                created_at: Timestamp::now(),
                upstream_id: None,
                is_test: false,
                refusal: None,
            })
            .collect();
        store.insert_tool_calls(&calls).await.unwrap();
    }
    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/end-users/{}/export", app.url(), ada.id))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The client reads nothing for a while: the socket buffers fill and the stream waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.freeze();
    let (read, waited) = within_hang_guard("the rest of an export", answer.bytes()).await;
    let whole = read
        .ok()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok());
    assert!(whole.is_none(), "the answer is cut, not whole and valid");
    eprintln!(
        "[outage] an export under way ended {:.2} s after the database stopped answering",
        waited.as_secs_f64()
    );
    relay.cut();
    app.shutdown().await.ok();
}

/// Opens a support request: a write to the store on every call (a tool list may come from
/// the node cache).
async fn open_support_request(mcp: &RawMcp, id: i64) -> Answer {
    let arguments = json!({"title": "t", "problem_description": "d", "email": "o@b.example"});
    mcp.call_tool(id, "get_support", arguments).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_and_heals_by_itself() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let (relay, app, ..) = acme_through_relay(&db).await;
    let mcp = RawMcp::new(format!("{}/s/acme/mcp", app.url()), STATELESS_ERA);
    let open_request = |id| open_support_request(&mcp, id);
    let opened = open_request(1).await;
    assert_eq!(opened.body["result"]["isError"], false, "{}", opened.body);
    let ready = || async {
        reqwest::get(format!("{}/readyz", app.url()))
            .await
            .unwrap()
            .status()
    };

    relay.cut();
    let (during, waited) = within_hang_guard("a call during the outage", open_request(2)).await;
    // The server itself may come from the node's cache, so the failure can be
    // the tool's: a tool error that says the request could not be saved, a JSON-RPC error
    // in a 200, or a 5xx from the gate. Each is clean.
    assert!(
        during.status.is_server_error() || during.status == 200,
        "{}: {}",
        during.status,
        during.body
    );
    let tool_error = during.body["result"]["isError"] == true
        && text_of(&during.body).contains("could not be saved");
    assert!(
        tool_error || during.body["error"]["code"] == -32603,
        "a clean failure: {}",
        during.body
    );
    // How fast is printed, not asserted (the store timeout is 2 s): a test on a shared
    // machine can show that the call ends, and cleanly, not how soon.
    eprintln!(
        "[outage] a call during the relay's outage failed after {:.2} s",
        waited.as_secs_f64()
    );
    assert_eq!(ready().await, 503);

    let relay = relay.listen().await;
    let healed = async {
        loop {
            if open_request(3).await.body["result"]["isError"] == false {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let ((), recovery) = within_hang_guard(
        "calls succeeding again once the database is back, without a restart",
        healed,
    )
    .await;
    eprintln!(
        "[outage] calls succeeded again {:.2} s after the relay was back",
        recovery.as_secs_f64()
    );
    // Every connection the store kept from before the outage is tested before it serves
    // again: none fails a statement (here the readiness check's) once the database is back.
    for _ in 0..5 {
        assert_eq!(ready().await, 200);
    }
    relay.cut();
    app.shutdown().await.ok();
}

/// A database that stops answering without closing its connections: a call fails
/// cleanly, bounded by `--store-timeout` per statement, instead of waiting for
/// TCP to give up, and `/readyz` says 503. How long the call took is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_fails_calls_instead_of_hanging() {
    let Some(db) = TestDatabase::require_postgres().await else {
        return;
    };
    let (relay, app, ..) = acme_through_relay(&db).await;
    let mcp = RawMcp::new(format!("{}/s/acme/mcp", app.url()), STATELESS_ERA);
    let open_request = |id| open_support_request(&mcp, id);
    let opened = open_request(1).await;
    assert_eq!(opened.body["result"]["isError"], false, "{}", opened.body);

    relay.freeze();
    let (during, waited) =
        within_hang_guard("a call while the database does not answer", open_request(2)).await;
    let tool_error = during.body["result"]["isError"] == true
        && text_of(&during.body).contains("could not be saved");
    assert!(
        tool_error || during.body["error"]["code"] == -32603 || during.status.is_server_error(),
        "a clean failure: {} {}",
        during.status,
        during.body
    );
    eprintln!(
        "[outage] a call while the database did not answer failed after {:.2} s",
        waited.as_secs_f64()
    );
    let (ready, _) = within_hang_guard("/readyz while the database does not answer", async {
        reqwest::get(format!("{}/readyz", app.url()))
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(ready, 503);
    // Cut, so that what still waits on the frozen connections (background writers) ends.
    relay.cut();
    app.shutdown().await.ok();
}

/// The outage: PostgreSQL itself (a cluster of the test's own) stopped for 5 s
/// and started again while clients call. During the outage every call fails cleanly and
/// `/readyz` says 503; once PostgreSQL is back, calls succeed again without a restart of
/// Guidepost. How long the slowest failure and the recovery took is printed for
/// docs/RELIABILITY.md, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load_fails_cleanly_and_heals_without_a_restart() {
    let Some(cluster) = crate::pg_cluster::Cluster::create() else {
        return;
    };
    let mut settings = Settings::local(cluster.url());
    settings.store_timeout = Duration::from_secs(2);
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    let app = guidepost::app::start(settings).await.unwrap();
    create_acme(&app.platform).await;
    let url = format!("{}/s/acme/mcp?tracking_id=load", app.url());
    let ready = || async {
        reqwest::get(format!("{}/readyz", app.url()))
            .await
            .unwrap()
            .status()
    };

    // Clients open support requests (a write each) until told to stop; each call's
    // outcome and duration is kept.
    let stop = tokio_util::sync::CancellationToken::new();
    let calls = Arc::new(Mutex::new(Vec::<(Instant, bool, Duration)>::new()));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (mcp, stop, calls) = (RawMcp::new(url.clone(), STATELESS_ERA), stop.clone(), calls.clone());
            tokio::spawn(async move {
                let arguments = json!({"title": "t", "problem_description": "d", "email": format!("c{n}@b.example")});
                for id in 0.. {
                    if stop.is_cancelled() {
                        return;
                    }
                    let started = Instant::now();
                    let answer = mcp.call_tool(id, "get_support", arguments.clone()).await;
                    let ok = answer.status == 200 && answer.body["result"]["isError"] == false;
                    calls.lock().unwrap().push((started, ok, started.elapsed()));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;

    cluster.stop();
    let down = Instant::now();
    // `/readyz` is asked during the outage, beside it, so that it lasts OUTAGE whatever
    // the readiness check takes (up to the store timeout).
    let (readiness, ()) = tokio::join!(
        async {
            tokio::time::sleep(OUTAGE / 5).await;
            ready().await
        },
        tokio::time::sleep(OUTAGE)
    );
    assert_eq!(readiness, 503, "/readyz during the outage");
    cluster.start();
    let up = Instant::now();
    let healed = async {
        loop {
            let recovered = calls
                .lock()
                .unwrap()
                .iter()
                .any(|(started, ok, _)| *ok && *started > up);
            if recovered {
                return up.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (recovery, _) = within_hang_guard(
        "calls succeeding once PostgreSQL is back, without a restart",
        healed,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(ready().await, 200);

    let calls = calls.lock().unwrap().clone();
    // Calls that began and ended while PostgreSQL was down (one that began near the end
    // may wait for a connection and succeed once it is back: that is fine).
    let during: Vec<_> = calls
        .iter()
        .filter(|(started, _, took)| *started > down && *started + *took < up)
        .collect();
    let failed = during.iter().filter(|(_, ok, _)| !ok).count();
    let slowest = calls
        .iter()
        .filter(|(started, _, _)| *started > down && *started < up)
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    assert!(
        !during.is_empty() && failed == during.len(),
        "every call during the outage fails: {failed} of {}",
        during.len()
    );
    eprintln!(
        "PostgreSQL stopped for {:.1} s under load: {} calls, {} before, {failed} failed during it (slowest {:.2} s), \
         calls succeeded again {:.2} s after it was back",
        (up - down).as_secs_f64(),
        calls.len(),
        calls
            .iter()
            .filter(|(started, _, _)| *started < down)
            .count(),
        slowest.as_secs_f64(),
        recovery.as_secs_f64()
    );
    app.shutdown().await.ok();
}
