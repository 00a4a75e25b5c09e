//! The upstream's requests to "its client" (`sampling/createMessage`,
//! `elicitation/create`, `roots/list`) and its log messages, relayed to the person whose
//! call it is serving, and to nobody else (docs/GATEWAY.md, "Requests from upstreams").
//!
//! Over Streamable HTTP an upstream sends a request about a call on that call's own
//! response stream, which rmcp records (`InboundStreamOrigin`): it goes to that call's
//! caller, however many calls are in flight. Over stdio a request names no call, so it
//! is relayed only when it cannot be anybody else's: while exactly one call is in flight
//! on the connection. When
//! several are, it is refused (never guessed), and the tools in flight are remembered as
//! tools that ask: from then on a call of such a tool has the connection to itself (it
//! waits for the calls in flight, and later calls wait for it), so that its requests are
//! unambiguous. Calls of other tools share the connection as before.
//!
//! `roots/list` outside any call is answered with the roots the most recent caller's
//! client gave; before any did, it waits up to [`ROOTS_WAIT`] for one, then answers an
//! empty list.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guidepost_core::upstreams::{CallerClient, RelayError};
use rmcp::model::RequestId;
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The longest an out-of-call `roots/list` waits for a caller's roots.
pub(crate) const ROOTS_WAIT: Duration = Duration::from_secs(30);
/// How long after a call ends its caller still gets the upstream's log messages: the
/// client library handles each notification in a task of its own, so one sent just
/// before the answer may be handled just after it.
const LINGER: Duration = Duration::from_secs(2);
/// The most requests one call's upstream may send its caller; more are refused.
const MAX_REQUESTS_PER_CALL: usize = 16;

/// JSON-RPC's codes for what the upstream is told.
const METHOD_NOT_FOUND: i32 = -32601;
const INTERNAL_ERROR: i32 = -32603;

/// Why the gateway answers an upstream's request with an error: its JSON-RPC code and a
/// message the upstream (and, through its tool's error, the agent) can act on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub code: i32,
    pub message: String,
}

impl Refusal {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The calls in flight on one upstream's connection, with their callers' clients.
#[derive(Clone, Default)]
pub(crate) struct CallRelays(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Calls of tools that ask hold it alone; the others share it.
    lease: Arc<RwLock<()>>,
    roots_known: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    in_flight: HashMap<u64, InFlightCall>,
    /// Tools seen asking their caller something.
    asking: HashSet<String>,
    /// The roots the most recent caller's client answered.
    last_roots: Option<Value>,
    /// The caller of the call that ended last, and when, while no other call runs.
    just_ended: Option<(std::time::Instant, Arc<dyn CallerClient>)>,
}

struct InFlightCall {
    tool: String,
    /// The id of the call's request to the upstream, once sent.
    sent_as: Option<RequestId>,
    caller: Option<Arc<dyn CallerClient>>,
    requests: usize,
}

/// A call's place among those in flight, and its hold on the connection, until dropped.
pub(crate) struct Entered {
    relays: CallRelays,
    id: u64,
    _lease: Lease,
}

#[allow(dead_code)] // held for its drop
enum Lease {
    Shared(OwnedRwLockReadGuard<()>),
    Alone(OwnedRwLockWriteGuard<()>),
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut state = self.relays.lock();
        let ended = state.in_flight.remove(&self.id);
        let caller = ended.and_then(|call| call.caller);
        state.just_ended = match caller {
            Some(caller) if state.in_flight.is_empty() => Some((std::time::Instant::now(), caller)),
            _ => None,
        };
    }
}

impl CallRelays {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A call of `tool` for `caller` starts: once it holds the connection as its tool
    /// needs, it is in flight until the returned guard drops.
    pub async fn enter(&self, tool: &str, caller: Option<Arc<dyn CallerClient>>) -> Entered {
        let asks = self.lock().asking.contains(tool);
        let lease = if asks {
            Lease::Alone(self.0.lease.clone().write_owned().await)
        } else {
            Lease::Shared(self.0.lease.clone().read_owned().await)
        };
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        let call = InFlightCall {
            tool: tool.to_owned(),
            sent_as: None,
            caller,
            requests: 0,
        };
        state.in_flight.insert(id, call);
        state.just_ended = None;
        Entered {
            relays: self.clone(),
            id,
            _lease: lease,
        }
    }

    /// The call was sent to the upstream as request `id`.
    pub fn sent(&self, entered: &Entered, id: RequestId) {
        if let Some(call) = self.lock().in_flight.get_mut(&entered.id) {
            call.sent_as = Some(id);
        }
    }

    /// Whether `tool` was seen asking its caller something.
    #[cfg(test)]
    fn asks(&self, tool: &str) -> bool {
        self.lock().asking.contains(tool)
    }

    /// The client the upstream's request is for: the caller of the call whose response
    /// stream it came on (`origin`), else the one call in flight's caller.
    fn addressee(
        &self,
        method: &str,
        origin: Option<&RequestId>,
    ) -> Result<Option<Arc<dyn CallerClient>>, Refusal> {
        let mut state = self.lock();
        let on_its_stream = origin.and_then(|origin| {
            state
                .in_flight
                .values()
                .position(|call| call.sent_as.as_ref() == Some(origin))
        });
        if let Some(index) = on_its_stream {
            let call = state
                .in_flight
                .values_mut()
                .nth(index)
                .expect("found above");
            return answerer(call, method);
        }
        if state.in_flight.len() > 1 {
            let tools: Vec<String> = state.in_flight.values().map(|c| c.tool.clone()).collect();
            state.asking.extend(tools);
            return Err(Refusal::new(
                INTERNAL_ERROR,
                format!(
                    "Guidepost cannot tell which of {} calls in flight this {method} request \
                     is for, so it is not relayed; retry the tool: its next calls run one at \
                     a time",
                    state.in_flight.len()
                ),
            ));
        }
        let Some(call) = state.in_flight.values_mut().next() else {
            return Ok(None);
        };
        let tool = call.tool.clone();
        let addressee = answerer(call, method);
        state.asking.insert(tool);
        addressee
    }
    /// Relays the upstream's request to its caller's client; its answer, or why none.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        origin: Option<&RequestId>,
    ) -> Result<Value, Refusal> {
        let Some(client) = self.addressee(method, origin)? else {
            return self.outside_any_call(method).await;
        };
        let asked = tokio::time::timeout(timeout, client.request(method, params)).await;
        let answer = match asked {
            Err(_) => {
                let secs = timeout.as_secs();
                let message =
                    format!("the caller's client did not answer {method} within {secs} s");
                return Err(Refusal::new(INTERNAL_ERROR, message));
            }
            Ok(Err(RelayError::Refused { code, message })) => {
                return Err(Refusal::new(code, message));
            }
            Ok(Err(error)) => return Err(Refusal::new(INTERNAL_ERROR, error.to_string())),
            Ok(Ok(answer)) => answer,
        };
        if method == "roots/list" {
            self.lock().last_roots = Some(answer.clone());
            self.0.roots_known.notify_waiters();
        }
        Ok(answer)
    }

    /// A request while no call is in flight: only `roots/list` has an answer then.
    async fn outside_any_call(&self, method: &str) -> Result<Value, Refusal> {
        if method != "roots/list" {
            return Err(Refusal::new(
                INTERNAL_ERROR,
                format!(
                    "no call is in flight: Guidepost relays {method} only to the person whose \
                     call the upstream is serving"
                ),
            ));
        }
        let known = self.0.roots_known.notified();
        if let Some(roots) = self.lock().last_roots.clone() {
            return Ok(roots);
        }
        let _ = tokio::time::timeout(ROOTS_WAIT, known).await;
        Ok(self
            .lock()
            .last_roots
            .clone()
            .unwrap_or_else(|| json!({"roots": []})))
    }

    /// Passes a log message to the caller of the one call in flight, if there is exactly
    /// one (or, for [`LINGER`] after it ended, to the caller of the call that ended last,
    /// while no other call runs); otherwise it is dropped (never sent to a guess).
    pub async fn log(&self, params: Value) {
        let caller = {
            let state = self.lock();
            match state.in_flight.len() {
                1 => state
                    .in_flight
                    .values()
                    .next()
                    .and_then(|c| c.caller.clone()),
                0 => state
                    .just_ended
                    .as_ref()
                    .filter(|(ended, _)| ended.elapsed() < LINGER)
                    .map(|(_, caller)| caller.clone()),
                _ => None,
            }
        };
        if let Some(client) = caller {
            client.notify("notifications/message", params).await;
        }
    }
}

/// The caller of `call`, if its client answers `method`; one more request counted.
fn answerer(
    call: &mut InFlightCall,
    method: &str,
) -> Result<Option<Arc<dyn CallerClient>>, Refusal> {
    call.requests += 1;
    if call.requests > MAX_REQUESTS_PER_CALL {
        return Err(Refusal::new(
            INTERNAL_ERROR,
            format!("a call may send its caller at most {MAX_REQUESTS_PER_CALL} requests"),
        ));
    }
    match call.caller.clone() {
        Some(client) if client.answers(method) => Ok(Some(client)),
        _ => Err(Refusal::new(
            METHOD_NOT_FOUND,
            format!(
                "the client of the person who made this call does not support {method} \
                     (it did not declare it, or its protocol version cannot answer mid-call)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// A client that answers with its own name, and records the log messages it gets.
    struct Person {
        name: &'static str,
        answers: bool,
        logs: Mutex<Vec<Value>>,
    }

    #[async_trait]
    impl CallerClient for Person {
        fn answers(&self, _method: &str) -> bool {
            self.answers
        }
        async fn request(&self, _method: &str, _params: Value) -> Result<Value, RelayError> {
            Ok(json!({"roots": [{"uri": format!("file:///{}", self.name)}]}))
        }
        async fn notify(&self, _method: &str, params: Value) {
            self.logs.lock().unwrap().push(params);
        }
    }

    fn person(name: &'static str, answers: bool) -> Arc<Person> {
        Arc::new(Person {
            name,
            answers,
            logs: Mutex::default(),
        })
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn one_call_in_flight_gets_its_requests_and_several_get_none() {
        let relays = CallRelays::default();
        let ada = person("ada", true);
        let entered = relays.enter("ask", Some(ada.clone())).await;
        let answer = relays
            .request("roots/list", json!({}), WAIT, None)
            .await
            .unwrap();
        assert_eq!(answer["roots"][0]["uri"], "file:///ada");
        relays.log(json!({"level": "info", "data": "hi"})).await;
        assert_eq!(ada.logs.lock().unwrap().len(), 1);
        assert!(relays.asks("ask"), "seen asking");

        let bob = person("bob", true);
        let other = relays.enter("echo", Some(bob.clone())).await;
        let refused = relays
            .request("elicitation/create", json!({}), WAIT, None)
            .await;
        assert!(refused.unwrap_err().message.contains("2 calls in flight"));
        relays.log(json!({"level": "info", "data": "whose?"})).await;
        assert_eq!(ada.logs.lock().unwrap().len(), 1, "not guessed");
        assert!(bob.logs.lock().unwrap().is_empty(), "not guessed");
        assert!(relays.asks("echo"), "both tools in flight now run alone");
        drop((entered, other));
    }

    #[tokio::test]
    async fn a_request_on_a_call_s_own_stream_goes_to_its_caller_however_many_are_in_flight() {
        let relays = CallRelays::default();
        let (jo, kim) = (person("jo", true), person("kim", true));
        let first = relays.enter("ask", Some(jo)).await;
        let second = relays.enter("ask", Some(kim)).await;
        relays.sent(&first, RequestId::Number(7));
        relays.sent(&second, RequestId::Number(8));
        let origin = RequestId::Number(8);
        let answer = relays
            .request("roots/list", json!({}), WAIT, Some(&origin))
            .await;
        assert_eq!(answer.unwrap()["roots"][0]["uri"], "file:///kim");
        let origin = RequestId::Number(7);
        let answer = relays
            .request("roots/list", json!({}), WAIT, Some(&origin))
            .await;
        assert_eq!(answer.unwrap()["roots"][0]["uri"], "file:///jo");
        assert!(!relays.asks("ask"), "no ambiguity, so nothing to serialize");
        let unknown = RequestId::Number(9);
        let refused = relays
            .request("roots/list", json!({}), WAIT, Some(&unknown))
            .await;
        assert!(
            refused.is_err(),
            "a stream of no call in flight: the rule for stdio applies"
        );
        drop((first, second));
    }

    #[tokio::test]
    async fn a_client_without_the_capability_is_refused_and_roots_outside_calls_are_the_last_callers()
     {
        let relays = CallRelays::default();
        let entered = relays.enter("ask", Some(person("cy", false))).await;
        let refused = relays
            .request("sampling/createMessage", json!({}), WAIT, None)
            .await
            .unwrap_err();
        assert_eq!(refused.code, METHOD_NOT_FOUND);
        drop(entered);
        let none = relays
            .request("elicitation/create", json!({}), WAIT, None)
            .await;
        assert!(none.unwrap_err().message.contains("no call is in flight"));

        let entered = relays.enter("ask", Some(person("dee", true))).await;
        relays
            .request("roots/list", json!({}), WAIT, None)
            .await
            .unwrap();
        drop(entered);
        let later = relays
            .request("roots/list", json!({}), WAIT, None)
            .await
            .unwrap();
        assert_eq!(later["roots"][0]["uri"], "file:///dee");
    }

    #[tokio::test]
    async fn a_tool_that_asks_has_the_connection_to_itself() {
        let relays = CallRelays::default();
        let first = relays.enter("ask", Some(person("eve", true))).await;
        relays
            .request("roots/list", json!({}), WAIT, None)
            .await
            .unwrap();
        let waiting = {
            let relays = relays.clone();
            tokio::spawn(async move { relays.enter("ask", Some(person("fay", true))).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits for the call in flight");
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(relays.lock().in_flight.len(), 1);
        drop(second);
    }
}
