#![allow(clippy::unwrap_used)]

use std::time::Duration;

use test_support::fault::{Behaviour, FaultyStore};

use super::*;
use crate::{HttpStore, StoreConfig};

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
    {"metric":{"pod":"web-1"},"value":[1700000000,"4.5"]}]}}"#;

async fn slow_store(delay: Duration) -> (FaultyStore, Arc<Coalescing<HttpStore>>) {
    let fault = FaultyStore::start(Behaviour::Delayed {
        delay,
        status: 200,
        body: VECTOR.to_owned(),
    })
    .await
    .unwrap();
    let store = HttpStore::new(StoreConfig::new(fault.url())).unwrap();
    (fault, Arc::new(Coalescing::new(Arc::new(store))))
}

fn queries_received(fault: &FaultyStore) -> usize {
    fault
        .requests()
        .iter()
        .filter(|r| r.request_line.contains("/api/v1/query"))
        .count()
}

#[tokio::test]
async fn identical_concurrent_queries_reach_the_store_once_and_all_get_the_answer() {
    let (fault, store) = slow_store(Duration::from_millis(300)).await;
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .instant_query("rate(x[2m])", None, Duration::from_secs(5))
                    .await
            })
        })
        .collect();
    let other = store.instant_query("rate(y[2m])", None, Duration::from_secs(5));
    assert_eq!(other.await.unwrap().len(), 1);
    for caller in callers {
        let samples = caller.await.unwrap().unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].value, 4.5);
        assert_eq!(samples[0].labels["pod"], "web-1");
    }
    assert_eq!(queries_received(&fault), 2, "one per distinct query");
    assert_eq!(store.in_flight(), 0, "finished flights are forgotten");

    // A query asked after the flight landed is asked again: nothing is cached.
    store
        .instant_query("rate(x[2m])", None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(queries_received(&fault), 3);
}

#[tokio::test]
async fn concurrent_callers_share_one_answer_without_copying_it() {
    let (fault, store) = slow_store(Duration::from_millis(300)).await;
    let deadline = Duration::from_secs(5);
    let (first, second, other_label) = tokio::join!(
        store.instant_query_by("rate(x[2m])", "pod", None, deadline),
        store.instant_query_by("rate(x[2m])", "pod", None, deadline),
        store.instant_query_by("rate(x[2m])", "namespace", None, deadline),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(Arc::ptr_eq(&first, &second), "one answer, not two copies");
    assert_eq!(first.get(0).unwrap().key, "web-1");
    assert_eq!(first.get(0).unwrap().value, 4.5);
    // Keyed by another label is another question: its own flight, and no sample has the label.
    assert!(other_label.unwrap().is_empty());
    assert_eq!(queries_received(&fault), 2);
    assert_eq!(store.in_flight(), 0, "finished flights are forgotten");
}

#[tokio::test]
async fn a_caller_keeps_its_own_deadline_and_giving_up_does_not_cancel_the_others() {
    let (fault, store) = slow_store(Duration::from_millis(400)).await;
    let patient = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .instant_query("up", None, Duration::from_secs(5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hasty = store
        .instant_query("up", None, Duration::from_millis(100))
        .await;
    assert!(
        matches!(hasty, Err(Error::Timeout { deadline }) if deadline == Duration::from_millis(100)),
        "{hasty:?}"
    );
    assert_eq!(patient.await.unwrap().unwrap().len(), 1);
    assert_eq!(queries_received(&fault), 1);
}

#[tokio::test]
async fn a_caller_with_more_time_does_not_inherit_a_hasty_flights_deadline() {
    let (fault, store) = slow_store(Duration::from_millis(200)).await;
    // The hasty caller starts the flight, and the store is sent its 50 ms.
    let hasty = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .instant_query("up", None, Duration::from_millis(50))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let patient = store
        .instant_query("up", None, Duration::from_secs(5))
        .await;
    assert_eq!(
        patient.unwrap().len(),
        1,
        "answered, not the hasty flight's timeout"
    );
    assert!(
        matches!(hasty.await.unwrap(), Err(Error::Timeout { .. })),
        "the hasty caller still times out"
    );
    assert_eq!(queries_received(&fault), 2, "a flight of its own");

    // Callers of one deadline, a moment apart, still share one flight.
    let deadline = Duration::from_secs(5);
    let first = store.instant_query("x", None, deadline);
    let second = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        store.instant_query("x", None, deadline).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!((first.unwrap().len(), second.unwrap().len()), (1, 1));
    assert_eq!(queries_received(&fault), 3);
}

#[tokio::test]
async fn a_slow_store_gets_a_query_again_only_once_half_the_deadline_has_passed() {
    let (fault, store) = slow_store(Duration::from_millis(1_500)).await;
    let deadline = Duration::from_secs(2);
    let at = |delay: u64| {
        let store = Arc::clone(&store);
        async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            store.instant_query("up", None, deadline).await
        }
    };
    // 0 ms starts the flight; at 100 ms 1.9 s of its 2 s are left, at 600 ms 1.4 s, at least
    // half of the caller's 2 s: joined. At 1.2 s 0.8 s are left: a flight of its own.
    let (first, soon, later, own) = tokio::join!(at(0), at(100), at(600), at(1_200));
    for answer in [first, soon, later, own] {
        assert_eq!(answer.unwrap().len(), 1);
    }
    assert_eq!(queries_received(&fault), 2);
}

#[tokio::test]
async fn a_failed_query_fails_every_caller_waiting_on_it_the_same_way() {
    let fault = FaultyStore::start(Behaviour::Delayed {
        delay: Duration::from_millis(200),
        status: 200,
        body: "<html>not prometheus</html>".to_owned(),
    })
    .await
    .unwrap();
    let store = Arc::new(Coalescing::new(Arc::new(
        HttpStore::new(StoreConfig::new(fault.url())).unwrap(),
    )));
    let (a, b) = tokio::join!(
        store.instant_query("up", None, Duration::from_secs(5)),
        store.instant_query("up", None, Duration::from_secs(5)),
    );
    assert!(matches!(a, Err(Error::BadResponse { .. })), "{a:?}");
    assert!(matches!(b, Err(Error::BadResponse { .. })), "{b:?}");
    assert_eq!(queries_received(&fault), 1);
}

#[tokio::test]
async fn the_first_caller_giving_up_leaves_the_query_to_those_who_joined_it() {
    let (fault, store) = slow_store(Duration::from_millis(300)).await;
    // The first caller starts the query inside its own future, and is dropped after 100 ms
    // (its client went away).
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        store.instant_query("up", None, Duration::from_secs(5)),
    );
    let joined = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        store
            .instant_query("up", None, Duration::from_secs(5))
            .await
    };
    let (first, joined) = tokio::join!(first, joined);
    assert!(first.is_err(), "dropped before the answer: {first:?}");
    assert_eq!(joined.unwrap()[0].value, 4.5);
    assert_eq!(
        queries_received(&fault),
        1,
        "the joined caller drove the same query"
    );
}

#[tokio::test]
async fn a_query_every_caller_gave_up_on_is_dropped_and_asked_anew() {
    let (fault, store) = slow_store(Duration::from_millis(300)).await;
    let gave_up = store
        .instant_query("up", None, Duration::from_millis(50))
        .await;
    assert!(matches!(gave_up, Err(Error::Timeout { .. })), "{gave_up:?}");
    assert_eq!(store.in_flight(), 0, "nobody waits on it, so it is gone");
    let asked_again = store
        .instant_query("up", None, Duration::from_secs(5))
        .await;
    assert_eq!(asked_again.unwrap().len(), 1);
    assert_eq!(queries_received(&fault), 2);
}

#[tokio::test]
async fn the_caller_whose_poll_lands_the_flight_is_not_woken_by_its_landing() {
    use crate::same_poll::testing::{Wakes, counting_wakes};
    let (_fault, store) = slow_store(Duration::from_millis(0)).await;
    let deadline = Duration::from_secs(5);
    for _ in 0..10 {
        let wakes = Arc::new(Wakes::default());
        let answer = counting_wakes(&wakes, store.instant_query_by("x", "pod", None, deadline))
            .await
            .unwrap();
        assert_eq!(answer.get(0).unwrap().key, "web-1");
        assert_eq!(
            wakes.during_poll.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "a wake during its own poll sends the task round the scheduler again"
        );
    }
}
