use super::*;

async fn next_payload(s: &mut Box<dyn Subscription>) -> (i64, String) {
    let m = s.recv().await.expect("message");
    (m.offset, String::from_utf8(m.payload).unwrap())
}

#[tokio::test]
async fn backlog_reaches_the_first_group_and_groups_each_get_everything() {
    let bus = MemoryBus::new(8);
    bus.publish("t", "k", b"early".to_vec()).await.unwrap();
    let mut a = bus.subscribe("t", "a").await.unwrap();
    let mut b = bus.subscribe("t", "b").await.unwrap();
    bus.publish("t", "k", b"late".to_vec()).await.unwrap();
    assert_eq!(next_payload(&mut a).await, (0, "early".into()));
    assert_eq!(next_payload(&mut a).await, (1, "late".into()));
    assert_eq!(next_payload(&mut b).await, (1, "late".into()));
}

#[tokio::test]
async fn a_group_has_one_member() {
    let bus = MemoryBus::new(1);
    let _a = bus.subscribe("t", "g").await.unwrap();
    assert!(bus.subscribe("t", "g").await.is_err());
}

#[tokio::test]
async fn full_queue_applies_backpressure() {
    let bus = MemoryBus::new(1);
    let mut sub = bus.subscribe("t", "g").await.unwrap();
    bus.publish("t", "k", b"1".to_vec()).await.unwrap();
    let blocked = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("t", "k", b"2".to_vec()).await })
    };
    // The second publish can only complete once the first message is consumed.
    assert_eq!(next_payload(&mut sub).await, (0, "1".into()));
    blocked.await.unwrap().unwrap();
    assert_eq!(next_payload(&mut sub).await, (1, "2".into()));
}

#[tokio::test]
async fn backlog_is_bounded() {
    let bus = MemoryBus::new(2);
    for i in 0..5 {
        bus.publish("t", "k", vec![b'0' + i]).await.unwrap();
    }
    let mut sub = bus.subscribe("t", "g").await.unwrap();
    assert_eq!(next_payload(&mut sub).await, (3, "3".into()));
    assert_eq!(next_payload(&mut sub).await, (4, "4".into()));
}

#[tokio::test]
async fn a_subscription_starts_with_its_assignment_and_commits_publish() {
    let bus = MemoryBus::new(4);
    let mut sub = bus.subscribe("in", "g").await.unwrap();
    let mut out = bus.subscribe("out", "g").await.unwrap();
    assert_eq!(
        sub.next().await.unwrap(),
        Event::Assigned(vec![Assignment {
            partition: 0,
            offset: None,
            checkpoint: None
        }])
    );
    let record = Record {
        topic: "out".into(),
        key: "k".into(),
        payload: b"x".to_vec(),
    };
    sub.commit(vec![record], vec![]).await.unwrap();
    assert_eq!(next_payload(&mut out).await, (0, "x".into()));
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_for_good_and_the_rest_go_through() {
    let bus = MemoryBus::new(8).with_message_limit(10);
    assert_eq!(bus.max_message_bytes(), 10);
    let mut sub = bus.subscribe("t", "g").await.unwrap();
    let refused = bus
        .publish_all(
            "t",
            vec![
                ("k".into(), b"small".to_vec()),
                ("k".into(), b"far too large".to_vec()),
                ("k".into(), b"fine".to_vec()),
            ],
        )
        .await;
    match refused {
        Err(BusError::Rejected(r)) => {
            assert_eq!(r.len(), 1);
            assert_eq!((r[0].index, r[0].too_large), (1, true));
            assert!(r[0].reason.contains("14 bytes"), "{}", r[0].reason);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(&sub.next().await, Ok(Event::Assigned(_))));
    assert_eq!(next_payload(&mut sub).await, (0, "small".into()));
    assert_eq!(next_payload(&mut sub).await, (1, "fine".into()));

    // A commit is all or nothing.
    let record = |p: &[u8]| Record {
        topic: "t".into(),
        key: "k".into(),
        payload: p.to_vec(),
    };
    let commit = sub.commit(vec![record(b"ok"), record(b"way too large")], vec![]);
    assert!(matches!(commit.await, Err(BusError::Rejected(r)) if r[0].index == 1));
    sub.commit(vec![record(b"ok")], vec![]).await.unwrap();
    assert_eq!(next_payload(&mut sub).await, (2, "ok".into()));
}
