//! Tasks on every backend: scoped reads, writes that lose a race are refused, expiry.

// The shared `json!` of `common` is not used here: serde_json's is.
#[allow(unused_imports, unused_macros)]
mod common;

use guidepost_domain::*;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use common::{assert_not_found, new_org, new_server, open, secs};

async fn a_task_is_read_only_by_its_server_and_written_only_from_its_latest_revision(
    db: &TestDatabase,
) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let help = new_server(&store, &org, "acme-help").await;
    let other_org = new_org(&store, "Globex").await;
    let task = Task::new(org.clone(), docs.id.clone(), None, "build", secs(1));
    store.create_task(&task).await.unwrap().unwrap();

    let read = store
        .get_task(&org, &docs.id, &task.id, secs(2))
        .await
        .unwrap();
    assert_eq!(read, task);
    assert_not_found(
        store.get_task(&org, &help.id, &task.id, secs(2)).await,
        "another server's task",
    );
    assert_not_found(
        store
            .get_task(&other_org, &docs.id, &task.id, secs(2))
            .await,
        "another organization's task",
    );

    // Two nodes read the same revision; the first write wins, the second is refused.
    let mut asked = read.clone();
    asked
        .ask(
            json!({"confirm": {"method": "elicitation/create"}})
                .as_object()
                .unwrap()
                .clone(),
            secs(3),
        )
        .unwrap();
    let mut cancelled = read.clone();
    assert!(cancelled.cancel(secs(3)));
    assert!(store.replace_task(&asked).await.unwrap());
    assert!(
        !store.replace_task(&cancelled).await.unwrap(),
        "a write from an old revision is refused"
    );

    let stored = store
        .get_task(&org, &docs.id, &task.id, secs(4))
        .await
        .unwrap();
    assert_eq!(stored.status, TaskStatus::InputRequired);
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.input_requests, asked.input_requests);
    let mut finished = stored.clone();
    assert!(finished.finish(TaskStatus::Completed, Some(json!({"content": []})), secs(5)));
    assert!(store.replace_task(&finished).await.unwrap());
    let stored = store
        .get_task(&org, &docs.id, &task.id, secs(6))
        .await
        .unwrap();
    assert_eq!(
        (
            stored.status,
            stored.outcome.clone(),
            stored.updated_at,
            stored.revision
        ),
        (
            TaskStatus::Completed,
            Some(json!({"content": []})),
            secs(5),
            2
        )
    );
}

async fn open_tasks_are_counted_and_expired_ones_are_gone(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let running = Task::new(org.clone(), docs.id.clone(), None, "build", secs(0));
    let mut done = Task::new(org.clone(), docs.id.clone(), None, "build", secs(0));
    done.finish(TaskStatus::Failed, Some(json!({"code": -32603})), secs(0));
    store.create_task(&running).await.unwrap().unwrap();
    store.create_task(&done).await.unwrap().unwrap();
    let open = store.count_open_tasks(&running, secs(1)).await.unwrap();
    assert_eq!(open.on_server, 1);

    let past_ttl = running.expires_at;
    assert_not_found(
        store.get_task(&org, &docs.id, &running.id, past_ttl).await,
        "an expired task",
    );
    let open = store.count_open_tasks(&running, past_ttl).await.unwrap();
    assert_eq!(open, OpenTasks::default());
    assert_eq!(store.delete_expired_tasks(secs(1)).await.unwrap(), 0);
    assert_eq!(store.delete_expired_tasks(past_ttl).await.unwrap(), 2);
}

/// A person, an address and a server each have their cap; a task past one is not
/// written, and the others' tasks still are.
async fn a_task_past_a_cap_is_not_written(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let ada = EndUserId::generate();
    let task = |end_user: Option<&EndUserId>, address: &str| {
        Task::new(
            org.clone(),
            docs.id.clone(),
            end_user.cloned(),
            "slow",
            secs(1),
        )
        .from_address(Some(address.parse().unwrap()))
    };
    for n in 0..MAX_OPEN_TASKS_PER_END_USER {
        let address = format!("198.51.100.{n}");
        store
            .create_task(&task(Some(&ada), &address))
            .await
            .unwrap()
            .unwrap();
    }
    let one_too_many = task(Some(&ada), "198.51.100.200");
    let refused = store.create_task(&one_too_many).await.unwrap();
    assert_eq!(
        refused,
        Err(TasksFull::EndUser(MAX_OPEN_TASKS_PER_END_USER))
    );
    assert_not_found(
        store
            .get_task(&org, &docs.id, &one_too_many.id, secs(2))
            .await,
        "a refused task",
    );
    for _ in 0..MAX_OPEN_TASKS_PER_ADDRESS {
        store
            .create_task(&task(None, "203.0.113.7"))
            .await
            .unwrap()
            .unwrap();
    }
    let refused = store.create_task(&task(None, "203.0.113.7")).await.unwrap();
    assert_eq!(refused, Err(TasksFull::Address(MAX_OPEN_TASKS_PER_ADDRESS)));
    let like = task(Some(&ada), "203.0.113.7");
    let open = store.count_open_tasks(&like, secs(2)).await.unwrap();
    assert_eq!(
        open,
        OpenTasks {
            on_server: MAX_OPEN_TASKS_PER_END_USER + MAX_OPEN_TASKS_PER_ADDRESS,
            of_end_user: MAX_OPEN_TASKS_PER_END_USER,
            from_address: MAX_OPEN_TASKS_PER_ADDRESS,
        }
    );
    // Anyone else still starts one, until the server's own cap.
    let mut n = 0;
    let full = loop {
        let address = format!("192.0.2.{}", n % 40);
        n += 1;
        match store.create_task(&task(None, &address)).await.unwrap() {
            Ok(()) => continue,
            Err(full) => break full,
        }
    };
    assert_eq!(full, TasksFull::Server(MAX_OPEN_TASKS_PER_SERVER));
}

backend_tests!(
    a_task_is_read_only_by_its_server_and_written_only_from_its_latest_revision,
    open_tasks_are_counted_and_expired_ones_are_gone,
    a_task_past_a_cap_is_not_written,
);
