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
