//! One story for both backends: SQLite always, PostgreSQL when `BATON_TEST_POSTGRES_URL` is set.

use store::{
    ActivityRecord, ActivityTaskRecord, AttemptEnd, AttemptRecord, DocumentRecord, ExecutionEnd,
    ExecutionRecord, ExecutionWrite, JobRecord, MachineRecord, Orphans, OutboxRecord, StepRecord,
    Store, SubscriptionRecord, TopicRecord,
};

fn machine(arn: &str) -> MachineRecord {
    MachineRecord {
        arn: arn.into(),
        name: "m".into(),
        kind: "STANDARD".into(),
        revision_id: uuid::Uuid::new_v4().to_string(),
        definition: r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#.into(),
        role_arn: "arn:aws:iam::1:role/r".into(),
        description: String::new(),
        logging: "{}".into(),
        tracing: "{}".into(),
        created_ms: 1_000,
        updated_ms: 1_000,
        tags: "[]".into(),
    }
}

fn execution(arn: &str, machine: &MachineRecord, start_ms: i64) -> ExecutionRecord {
    ExecutionRecord {
        arn: arn.into(),
        machine_arn: machine.arn.clone(),
        name: arn.rsplit(':').next().unwrap().into(),
        revision_id: machine.revision_id.clone(),
        status: "RUNNING".into(),
        input: "{}".into(),
        output: None,
        error: None,
        cause: None,
        start_ms,
        stop_ms: None,
        owner: None,
        next_seq: 0,
        event_count: 0,
        redrive_count: 0,
        parent: None,
        version_arn: None,
        alias_arn: None,
    }
}

fn step(seq: i64, first: i64, last: i64) -> StepRecord {
    StepRecord {
        seq,
        at_ms: 2_000 + seq,
        input: format!(r#"{{"v":1,"seq":{seq}}}"#),
        first_event: first,
        last_event: last,
    }
}

async fn story(store: Store) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let m = machine(&format!("arn:aws:states:us-east-1:1:stateMachine:m{tag}"));

    // State machines: create once, read, update with a new revision, list, delete.
    assert!(store.create_machine(&m).await.unwrap());
    assert!(!store.create_machine(&m).await.unwrap(), "an ARN is created once");
    assert_eq!(store.machine(&m.arn).await.unwrap().as_ref(), Some(&m));
    let first_revision = m.revision_id.clone();
    let mut m2 = m.clone();
    m2.revision_id = uuid::Uuid::new_v4().to_string();
    m2.definition = r#"{"StartAt":"Q","States":{"Q":{"Type":"Pass","End":true}}}"#.into();
    assert!(store.update_machine(&m2, true).await.unwrap());
    assert_eq!(store.machine(&m.arn).await.unwrap().unwrap().definition, m2.definition);
    let old = store.revision(&first_revision).await.unwrap().unwrap();
    assert_eq!(old.definition, m.definition, "old revisions stay for their executions");
    let listed = store.machines(None, 1000).await.unwrap();
    assert!(listed.iter().any(|x| x.arn == m.arn));

    // Executions: a new one commits with its first step; a second create of the ARN is
    // rejected without touching the first.
    let node = format!("node-{tag}");
    let other = format!("other-{tag}");
    store.heartbeat(&node, i64::MAX / 2).await.unwrap();
    let e1 = execution(&format!("arn:aws:states:us-east-1:1:execution:m{tag}:a"), &m2, 10);
    let e2 = execution(&format!("arn:aws:states:us-east-1:1:execution:m{tag}:b"), &m2, 20);
    let create = |e: &ExecutionRecord| ExecutionWrite {
        arn: e.arn.clone(),
        create: Some(e.clone()),
        steps: vec![step(0, 1, 3)],
        next_seq: 1,
        event_count: 3,
        ..Default::default()
    };
    let applied = store.commit(&node, vec![create(&e1), create(&e2), create(&e1)]).await.unwrap();
    assert_eq!(applied, vec![true, true, false]);
    let got = store.execution(&e1.arn).await.unwrap().unwrap();
    assert_eq!(got.owner.as_deref(), Some(node.as_str()));
    assert_eq!((got.next_seq, got.event_count), (1, 3));

    // Steps append in order; a node that does not own the execution cannot write.
    let more = ExecutionWrite {
        arn: e1.arn.clone(),
        steps: vec![step(1, 4, 5)],
        next_seq: 2,
        event_count: 5,
        ..Default::default()
    };
    assert_eq!(store.commit(&other, vec![more.clone()]).await.unwrap(), vec![false]);
    assert_eq!(store.commit(&node, vec![more]).await.unwrap(), vec![true]);
    // A running execution's counters are those of its newest step.
    let got = store.execution(&e1.arn).await.unwrap().unwrap();
    assert_eq!((got.next_seq, got.event_count), (2, 5));
    let steps = store.steps(&e1.arn).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(steps[1], step(1, 4, 5));

    // Listing: newest first, by status, paged by position.
    let all = store.executions(&m.arn, None, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.arn.as_str()).collect::<Vec<_>>(), vec![&e2.arn, &e1.arn]);
    let page = store.executions(&m.arn, None, Some((all[0].start_ms, &all[0].arn)), 10).await;
    assert_eq!(page.unwrap().len(), 1);

    // Inbox messages reach the owner and are consumed by a commit; tokens come and go.
    let id = store.push_inbox(&e1.arn, r#"{"v":1}"#, 3_000).await.unwrap();
    let inbox = store.inbox_for(&node, 100).await.unwrap();
    assert!(inbox.iter().any(|i| i.id == id && i.execution_arn == e1.arn));
    assert!(store.inbox_for(&other, 100).await.unwrap().is_empty());
    let token = format!("{}#7", e1.arn);
    let activity = format!("arn:aws:states:us-east-1:1:activity:a{tag}");
    let w = ExecutionWrite {
        arn: e1.arn.clone(),
        steps: vec![step(2, 6, 6)],
        next_seq: 3,
        event_count: 6,
        inbox_done: vec![id],
        tokens_added: vec![token.clone()],
        activity_tasks: vec![ActivityTaskRecord {
            token: token.clone(),
            activity_arn: activity.clone(),
            input: "{}".into(),
            created_ms: 3_000,
        }],
        ..Default::default()
    };
    assert_eq!(store.commit(&node, vec![w]).await.unwrap(), vec![true]);
    assert!(store.inbox_for(&node, 100).await.unwrap().iter().all(|i| i.id != id));
    assert_eq!(store.token_execution(&token).await.unwrap().as_deref(), Some(e1.arn.as_str()));

    // Activities: created idempotently; a task goes to one worker only.
    let a = ActivityRecord {
        arn: activity.clone(),
        name: "a".into(),
        created_ms: 1,
        tags: "[]".into(),
    };
    assert_eq!(store.create_activity(&a).await.unwrap(), a);
    assert_eq!(store.create_activity(&a).await.unwrap(), a);
    let claimed = store.claim_activity_task(&activity, "w1").await.unwrap();
    assert_eq!(claimed, Some((token.clone(), "{}".into())));
    assert_eq!(store.claim_activity_task(&activity, "w2").await.unwrap(), None);
    assert!(store.set_tags(&activity, r#"[{"key":"k","value":"v"}]"#).await.unwrap());
    assert!(store.activity(&activity).await.unwrap().unwrap().tags.contains("\"k\""));

    // The end of an execution invalidates its tokens.
    let end = ExecutionWrite {
        arn: e1.arn.clone(),
        steps: vec![step(3, 7, 8)],
        next_seq: 4,
        event_count: 8,
        tokens_removed: vec![token.clone()],
        end: Some(ExecutionEnd {
            status: "SUCCEEDED".into(),
            output: Some("{}".into()),
            error: None,
            cause: None,
            stop_ms: 4_000,
        }),
        ..Default::default()
    };
    assert_eq!(store.commit(&node, vec![end]).await.unwrap(), vec![true]);
    let done = store.execution(&e1.arn).await.unwrap().unwrap();
    assert_eq!((done.status.as_str(), done.stop_ms), ("SUCCEEDED", Some(4_000)));
    assert_eq!(store.token_execution(&token).await.unwrap(), None);
    let finished = store.executions(&m.arn, Some("SUCCEEDED"), None, 10).await.unwrap();
    assert_eq!(finished.len(), 1);

    // Leases: a dead node's executions are claimed by another; a live node's are not.
    assert!(store.claim_orphans(&other, 5_000, Orphans::Lapsed, 100).await.unwrap().is_empty());
    store.heartbeat(&node, 1).await.unwrap();
    let claimed = store.claim_orphans(&other, 5_000, Orphans::Lapsed, 100).await.unwrap();
    assert!(claimed.contains(&e2.arn), "{claimed:?}");
    assert!(!claimed.contains(&e1.arn), "finished executions are not claimed");
    let w =
        ExecutionWrite { arn: e2.arn.clone(), next_seq: 1, event_count: 3, ..Default::default() };
    assert_eq!(store.commit(&node, vec![w.clone()]).await.unwrap(), vec![false]);
    assert_eq!(store.commit(&other, vec![w]).await.unwrap(), vec![true]);
    store.release(&other).await.unwrap();
    assert_eq!(store.execution(&e2.arn).await.unwrap().unwrap().owner, None);
    // What a shutdown handed back (no owner) goes to the next claim.
    let claimed = store.claim_orphans(&node, 5_000, Orphans::Lapsed, 100).await.unwrap();
    assert_eq!(claimed, vec![e2.arn.clone()]);
    // An owner that never wrote a heartbeat is found by a sweep only.
    let e3 = execution(&format!("arn:aws:states:us-east-1:1:execution:m{tag}:c"), &m2, 30);
    assert_eq!(store.commit(&format!("ghost-{tag}"), vec![create(&e3)]).await.unwrap(), [true]);
    assert!(store.claim_orphans(&node, 5_000, Orphans::Lapsed, 100).await.unwrap().is_empty());
    let claimed = store.claim_orphans(&node, 5_000, Orphans::Sweep, 100).await.unwrap();
    assert_eq!(claimed, vec![e3.arn.clone()]);

    // Redrive reopens a failed execution; retention purges finished ones.
    assert!(!store.reopen_execution(&e1.arn, &node, 1).await.unwrap(), "succeeded stays closed");
    assert!(store.purge_finished(4_001, 1000).await.unwrap() >= 1);
    assert_eq!(store.execution(&e1.arn).await.unwrap(), None);
    assert!(store.steps(&e1.arn).await.unwrap().is_empty());

    // Versions: numbered densely, the same revision twice is one version; aliases route.
    let v1 = store.publish_version(&m.arn, &m2.revision_id, "first", 5_000).await.unwrap();
    assert_eq!((v1.version, v1.arn.clone()), (1, format!("{}:1", m.arn)));
    let again = store.publish_version(&m.arn, &m2.revision_id, "again", 5_001).await.unwrap();
    assert_eq!(again, v1);
    let v2 = store.publish_version(&m.arn, &first_revision, "", 5_002).await.unwrap();
    assert_eq!(v2.version, 2);
    let vs = store.versions(&m.arn, None, 10).await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(store.versions(&m.arn, Some(2), 10).await.unwrap(), vec![v1.clone()]);
    let alias = store::AliasRecord {
        arn: format!("{}:prod", m.arn),
        machine_arn: m.arn.clone(),
        name: "prod".into(),
        description: String::new(),
        routing: format!(r#"[{{"stateMachineVersionArn":"{}","weight":100}}]"#, v1.arn),
        created_ms: 6_000,
        updated_ms: 6_000,
    };
    assert!(store.create_alias(&alias).await.unwrap());
    assert!(!store.create_alias(&alias).await.unwrap());
    let mut moved = alias.clone();
    moved.routing = format!(r#"[{{"stateMachineVersionArn":"{}","weight":100}}]"#, v2.arn);
    assert!(store.update_alias(&moved).await.unwrap());
    assert_eq!(store.alias(&alias.arn).await.unwrap(), Some(moved.clone()));
    assert_eq!(store.aliases(&m.arn).await.unwrap(), vec![moved]);
    assert!(store.delete_version(&v2.arn).await.unwrap());
    assert_eq!(store.version(&v2.arn).await.unwrap(), None);

    assert!(store.delete_machine(&m.arn).await.unwrap());
    assert_eq!(store.alias(&alias.arn).await.unwrap(), None, "aliases go with the machine");
    assert_eq!(store.version(&v1.arn).await.unwrap(), None);
    assert_eq!(store.machine(&m.arn).await.unwrap(), None);
    jobs(&store, &tag).await;
    outbox(&store, &tag).await;
    documents(&store, &tag).await;
    topics(&store, &tag).await;
    topic_operations(&store, &tag).await;
    store.ping().await.unwrap();
}

/// Topics: fan-out from the outbox once per message, leases, ordering keys, attempts,
/// retries, dead letters and their replay, disabling.
async fn topics(store: &Store, tag: &str) {
    let topic = format!("orders{tag}");
    assert!(store.create_topic(&TopicRecord { name: topic.clone(), created_ms: 1 }).await.unwrap());
    assert!(!store
        .create_topic(&TopicRecord { name: topic.clone(), created_ms: 2 })
        .await
        .unwrap());
    assert!(store.topics().await.unwrap().iter().any(|t| t.name == topic));
    let sub = |id: &str| subscription(&format!("sub_{id}{tag}"), &topic, id, 1);
    let (s1, s2) = (sub("one"), sub("two"));
    assert!(store.create_subscription(&s1).await.unwrap());
    assert!(store.create_subscription(&s2).await.unwrap());
    assert!(!store.create_subscription(&s2).await.unwrap());
    assert_eq!(store.subscriptions(&topic).await.unwrap().len(), 2);
    assert!(!format!("{s1:?}").contains("whsec_"), "secrets stay out of Debug");

    let event = |n: u32, key: Option<&str>| OutboxRecord {
        seq: 0,
        message_id: format!("msg_t{tag}_{n}"),
        topic: topic.clone(),
        body: format!(r#"{{"n":{n}}}"#),
        attributes: "{}".into(),
        subject: None,
        ordering_key: key.map(str::to_owned),
        created_ms: 1_000,
    };
    for (n, key) in [(1, Some("a")), (2, Some("a")), (3, Some("b")), (4, None)] {
        assert!(store.publish(&event(n, key)).await.unwrap());
    }
    // Only the first subscription's filter matches.
    let only = s1.id.clone();
    let route = move |_: &OutboxRecord, s: &SubscriptionRecord| (s.id == only).then_some(1_000);
    let (made, taken) = store.fan_out(1000, 1_000, route.clone()).await.unwrap();
    assert_eq!(made, 4);
    assert!(taken >= 4);
    assert_eq!(store.outbox_len().await.unwrap(), 0, "fanned-out events leave the outbox");
    assert_eq!(
        store.topic_message(&format!("msg_t{tag}_2")).await.unwrap().unwrap().body,
        r#"{"n":2}"#
    );
    // The same message id published again is not delivered again.
    assert!(store.publish(&event(1, Some("a"))).await.unwrap());
    assert_eq!(store.fan_out(1000, 1_000, route).await.unwrap(), (0, 1));
    assert_eq!(store.pending_deliveries().await.unwrap(), 4);

    // n1 takes what is due; message 2 waits behind message 1 (same key).
    let claimed = store.claim_deliveries("n1", 1_000, 5_000, 10).await.unwrap();
    let ids: Vec<String> = claimed.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(ids, [1, 3, 4].map(|n| format!("msg_t{tag}_{n}")));
    // Each claimed delivery brings its message and subscription, as stored.
    for d in &claimed {
        let with = d.claimed_with.as_deref().expect("read with the claim");
        assert_eq!(
            Some(&*with.message),
            store.topic_message(&d.message_id).await.unwrap().as_ref()
        );
        assert_eq!(
            Some(&*with.subscription),
            store.subscription(&d.subscription_id).await.unwrap().as_ref()
        );
    }
    assert!(store.claim_deliveries("n2", 2_000, 6_000, 10).await.unwrap().is_empty());
    let attempt =
        |d: &store::DeliveryRecord, n: i64, at_ms: i64, code: Option<i64>| AttemptRecord {
            id: 0,
            delivery_id: d.id,
            subscription_id: d.subscription_id.clone(),
            message_id: d.message_id.clone(),
            attempt: n,
            at_ms,
            status_code: code,
            error: code.is_none().then(|| "connection refused".to_owned()),
            latency_ms: 3,
            response: code.map(|_| "ok".to_owned()),
        };
    let (m1, m3, m4) = (&claimed[0], &claimed[1], &claimed[2]);
    assert!(store
        .finish_attempt("n1", &attempt(m1, 1, 2_000, Some(200)), AttemptEnd::Delivered)
        .await
        .unwrap());
    let next = store.claim_deliveries("n2", 2_000, 6_000, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].message_id, format!("msg_t{tag}_2"), "the key's next message is free");
    assert!(store
        .finish_attempt("n2", &attempt(&next[0], 1, 2_100, Some(200)), AttemptEnd::Delivered)
        .await
        .unwrap());

    // A retry is due at its time; attempts are counted and recorded.
    assert!(store
        .finish_attempt("n1", &attempt(m3, 1, 2_000, None), AttemptEnd::RetryAt(3_000))
        .await
        .unwrap());
    let d3 = store.delivery(m3.id).await.unwrap().unwrap();
    assert_eq!((d3.attempts, d3.status.as_str()), (1, "pending"));
    assert_eq!(d3.last_error.as_deref(), Some("connection refused"));
    assert!(store.claim_deliveries("n2", 2_500, 6_000, 10).await.unwrap().is_empty());
    let again = store.claim_deliveries("n2", 3_000, 6_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(store
        .finish_attempt("n2", &attempt(&again[0], 2, 3_100, Some(500)), AttemptEnd::Dead)
        .await
        .unwrap());
    let dead = store.deliveries(&topic, "dead", None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].attempts, dead[0].last_error.as_deref()), (2, Some("HTTP 500")));

    // n1 dies holding message 4: its lease lapses and n2 delivers; n1 can no longer write.
    let retaken = store.claim_deliveries("n2", 5_000, 9_000, 10).await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].id, m4.id);
    assert!(!store
        .finish_attempt("n1", &attempt(m4, 1, 5_000, Some(200)), AttemptEnd::Delivered)
        .await
        .unwrap());
    assert_eq!(store.release_deliveries(Some("n2")).await.unwrap(), 1);

    // A dead letter replayed is pending again, from its first attempt.
    assert!(store.replay_delivery(dead[0].id, 6_000).await.unwrap());
    assert!(!store.replay_delivery(dead[0].id, 6_000).await.unwrap(), "only dead ones replay");
    let replayed = store.delivery(dead[0].id).await.unwrap().unwrap();
    assert_eq!((replayed.status.as_str(), replayed.attempts), ("pending", 0));

    let attempts = store.attempts(&s1.id, None, 10).await.unwrap();
    assert_eq!(attempts.len(), 4, "the attempt of a node that lost its lease is not kept");
    assert_eq!(attempts[0].status_code, Some(500), "newest first");
    assert_eq!(store.attempts(&s1.id, Some(attempts[1].id), 10).await.unwrap().len(), 2);

    // Disabling dead-letters what is pending and stops new deliveries.
    assert!(store.disable_subscription(&s1.id, "410 Gone", 7_000).await.unwrap());
    assert_eq!(store.deliveries(&topic, "pending", None, 10).await.unwrap().len(), 0);
    assert_eq!(store.deliveries(&topic, "dead", None, 10).await.unwrap().len(), 2);
    assert_eq!(store.subscription(&s1.id).await.unwrap().unwrap().status, "disabled");
    assert!(store.enable_subscription(&s1.id, 7_500).await.unwrap());
    assert_eq!(store.subscription(&s1.id).await.unwrap().unwrap().status, "active");
    assert!(store.disable_subscription(&s1.id, "410 Gone", 7_600).await.unwrap());
    assert!(store.publish(&event(5, None)).await.unwrap());
    assert_eq!(store.fan_out(1000, 8_000, |_, _| Some(8_000)).await.unwrap(), (1, 1), "to s2 only");

    // Group commits: several publishes, several attempts.
    let batch = [event(6, None), event(7, None), event(6, None)];
    assert_eq!(store.publish_batch(&batch).await.unwrap(), [true, true, false]);
    assert_eq!(store.fan_out(1000, 9_000, |_, _| Some(9_000)).await.unwrap(), (2, 2));
    let three = store.claim_deliveries("n3", 9_000, 19_000, 10).await.unwrap();
    assert_eq!(three.len(), 3, "the two new ones and the one from before: {three:?}");
    let ends: Vec<(AttemptRecord, AttemptEnd)> =
        three.iter().map(|d| (attempt(d, 1, 9_100, Some(200)), AttemptEnd::Delivered)).collect();
    assert_eq!(store.finish_attempts("n3", &ends).await.unwrap().kept, [true, true, true]);
    assert_eq!(store.finish_attempts("n3", &ends).await.unwrap().kept, [false, false, false]);

    // A publish group fans out in its own transaction; a group of attempts claims in its
    // own, and the claim sees what the group ended (the key's next message is free).
    let keyed = [event(8, Some("k")), event(9, Some("k"))];
    let at_10s = |_: &OutboxRecord, _: &SubscriptionRecord| Some(10_000);
    let (new, fanned) = store.publish_and_fan_out(&keyed, 1000, 10_000, at_10s).await.unwrap();
    assert_eq!((new, fanned), (vec![true, true], (2, 2)), "to s2 only");
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let first = store.claim_deliveries("n3", 10_000, 20_000, 10).await.unwrap();
    assert_eq!(first.len(), 1, "the key's second message waits: {first:?}");
    let claim = store::Claim { now_ms: 10_100, lease_until_ms: 20_000, limit: 10 };
    let end = [(attempt(&first[0], 1, 10_100, Some(200)), AttemptEnd::Delivered)];
    let (done, next) = store.finish_attempts_and_claim("n3", &end, Some(claim)).await.unwrap();
    assert_eq!(done.kept, [true]);
    let next_ids: Vec<&str> = next.iter().map(|d| d.message_id.as_str()).collect();
    assert_eq!(next_ids, [format!("msg_t{tag}_9")]);
    assert_eq!(next[0].lease_owner.as_deref(), Some("n3"));
    let with = next[0].claimed_with.as_deref().expect("a claim after attempts reads them too");
    assert_eq!(
        (with.message.message_id.as_str(), with.subscription.id.as_str()),
        (next[0].message_id.as_str(), next[0].subscription_id.as_str())
    );
    let end = [(attempt(&next[0], 1, 10_200, Some(200)), AttemptEnd::Delivered)];
    let (done, none) = store.finish_attempts_and_claim("n3", &end, Some(claim)).await.unwrap();
    assert_eq!((done.kept, none), (vec![true], vec![]));

    assert!(store
        .set_subscription_secrets(&s2.id, r#"["whsec_y","whsec_x"]"#, 9_000)
        .await
        .unwrap());
    assert!(store.delete_subscription(&topic, &s2.id).await.unwrap());
    assert!(!store.delete_subscription(&topic, &s2.id).await.unwrap());
    assert_eq!(store.pending_deliveries().await.unwrap(), 0);
    assert!(store.delete_topic(&topic).await.unwrap());
    assert_eq!(store.topic(&topic).await.unwrap(), None);
    assert!(store.subscriptions(&topic).await.unwrap().is_empty());
}

/// Topics' operations: the streaks of failures that disable subscriptions, and retention.
async fn topic_operations(store: &Store, tag: &str) {
    // Later than anything of the stories before, which the first sweep below clears.
    const T: i64 = 1_000_000;
    let topic = format!("ops{tag}");
    assert!(store.create_topic(&TopicRecord { name: topic.clone(), created_ms: T }).await.unwrap());
    let sub = |id: &str| subscription(&format!("sub_{id}{tag}"), &topic, id, T);
    let (a, b) = (sub("a"), sub("b"));
    assert!(store.create_subscription(&a).await.unwrap());
    assert!(store.create_subscription(&b).await.unwrap());
    let msg = |n: u32| format!("msg_o{tag}_{n}");
    for n in 1..=4 {
        let e = OutboxRecord {
            seq: 0,
            message_id: msg(n),
            topic: topic.clone(),
            body: "{}".into(),
            attributes: "{}".into(),
            subject: None,
            ordering_key: None,
            created_ms: T,
        };
        assert!(store.publish(&e).await.unwrap());
    }
    // Every message to a; message 1 to b as well, not due for a long time.
    let (one, a_id) = (msg(1), a.id.clone());
    let route = move |e: &OutboxRecord, s: &SubscriptionRecord| {
        if s.id == a_id {
            Some(T)
        } else {
            (e.message_id == one).then_some(T + 1_000_000_000)
        }
    };
    assert_eq!(store.fan_out(1000, T, route).await.unwrap(), (5, 4));
    let claimed = store.claim_deliveries("n1", T, T + 100_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let d = |n: u32| claimed.iter().find(|d| d.message_id == msg(n)).unwrap().clone();
    let attempt = |d: &store::DeliveryRecord, at_ms: i64, code: i64| AttemptRecord {
        id: 0,
        delivery_id: d.id,
        subscription_id: d.subscription_id.clone(),
        message_id: d.message_id.clone(),
        attempt: d.attempts + 1,
        at_ms,
        status_code: Some(code),
        error: None,
        latency_ms: 1,
        response: None,
    };
    let streak = |since_ms: i64, last_failure_ms: i64| store::FailingStreak {
        subscription_id: a.id.clone(),
        since_ms,
        last_failure_ms,
    };
    let retry = AttemptEnd::RetryAt(T + 10_000);

    // A failure begins a streak; the next one keeps its start.
    let done = store.finish_attempts("n1", &[(attempt(&d(1), T + 100, 500), retry)]).await.unwrap();
    assert_eq!((done.kept, done.failing), (vec![true], vec![streak(T + 100, T + 100)]));
    assert_eq!(store.failing_since(&a.id).await.unwrap(), Some(T + 100));
    let done = store.finish_attempts("n1", &[(attempt(&d(2), T + 200, 503), retry)]).await.unwrap();
    assert_eq!(done.failing, [streak(T + 100, T + 200)]);
    // A success ends it; a failure after the success (in the same group) begins another.
    let group = [
        (attempt(&d(4), T + 400, 500), retry),
        (attempt(&d(3), T + 300, 200), AttemptEnd::Delivered),
    ];
    let done = store.finish_attempts("n1", &group).await.unwrap();
    assert_eq!(done.failing, [streak(T + 400, T + 400)]);
    // A success after the failures of a group ends the streak: nothing is failing.
    let again = store.claim_deliveries("n1", T + 10_000, T + 100_000, 10).await.unwrap();
    assert_eq!(again.len(), 3);
    let r = |n: u32| again.iter().find(|d| d.message_id == msg(n)).unwrap().clone();
    let group = [
        (attempt(&r(1), T + 10_100, 500), retry),
        (attempt(&r(2), T + 10_200, 200), AttemptEnd::Delivered),
    ];
    let done = store.finish_attempts("n1", &group).await.unwrap();
    assert_eq!((done.kept, done.failing), (vec![true, true], vec![]));
    assert_eq!(store.failing_since(&a.id).await.unwrap(), None);
    // A disabled subscription is reported once, and not as failing.
    let done =
        store.finish_attempts("n1", &[(attempt(&r(4), T + 10_300, 500), retry)]).await.unwrap();
    assert_eq!(done.failing, [streak(T + 10_300, T + 10_300)]);
    assert!(store.disable_subscription(&a.id, "failing", T + 20_000).await.unwrap());
    assert!(!store.disable_subscription(&a.id, "failing", T + 20_000).await.unwrap());
    assert!(store.enable_subscription(&a.id, T + 20_000).await.unwrap());
    assert_eq!(store.failing_since(&a.id).await.unwrap(), None, "enabling starts afresh");
    assert!(store.disable_subscription(&a.id, "failing", T + 20_000).await.unwrap());

    // Retention. What the stories before left is over first.
    while store.purge_deliveries(T, 1000).await.unwrap() != store::Purged::default() {}
    let purged = |deliveries, attempts, messages| store::Purged { deliveries, attempts, messages };
    // Message 3 was delivered at T + 300: it goes with its attempt and its message.
    assert_eq!(store.purge_deliveries(T + 5_000, 1000).await.unwrap(), purged(1, 1, 1));
    assert!(store.topic_message(&msg(3)).await.unwrap().is_none());
    assert!(store.delivery(d(3).id).await.unwrap().is_none());
    // Message 2, delivered at T + 10_200 after a failure.
    assert_eq!(store.purge_deliveries(T + 15_000, 1000).await.unwrap(), purged(1, 2, 1));
    assert_eq!(store.attempts(&a.id, None, 100).await.unwrap().len(), 4);
    // The dead letters of 1 and 4 (disabled at T + 20_000), one batch of one at a time;
    // message 1 stays for b's pending delivery.
    let first = store.purge_deliveries(T + 30_000, 1).await.unwrap();
    assert_eq!(first.deliveries, 1);
    let rest = store.purge_deliveries(T + 30_000, 1000).await.unwrap();
    assert_eq!(first.deliveries + rest.deliveries, 2);
    assert_eq!(first.attempts + rest.attempts, 4);
    assert_eq!(first.messages + rest.messages, 1);
    assert!(store.attempts(&a.id, None, 100).await.unwrap().is_empty());
    assert!(store.topic_message(&msg(4)).await.unwrap().is_none());
    assert!(store.topic_message(&msg(1)).await.unwrap().is_some(), "b's delivery is pending");
    assert_eq!(store.deliveries(&topic, "pending", None, 10).await.unwrap().len(), 1);
    assert_eq!(store.purge_deliveries(i64::MAX, 1000).await.unwrap(), purged(0, 0, 0));
}

/// The outbox keeps events in order and once per message id.
async fn outbox(store: &Store, tag: &str) {
    let event = |n: u32| OutboxRecord {
        seq: 0,
        message_id: format!("msg_{tag}_{n}"),
        topic: format!("t{tag}"),
        body: format!(r#"{{"n":{n}}}"#),
        attributes: "{}".into(),
        subject: None,
        ordering_key: Some("k".into()),
        created_ms: 1_000 + i64::from(n),
    };
    let before = store.outbox_len().await.unwrap();
    assert!(store.publish(&event(1)).await.unwrap());
    assert!(store.publish(&event(2)).await.unwrap());
    assert!(!store.publish(&event(1)).await.unwrap(), "a message id is published once");
    assert_eq!(store.outbox_len().await.unwrap(), before + 2);
    let mine: Vec<OutboxRecord> = store
        .outbox(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.topic == format!("t{tag}"))
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(mine[0].seq < mine[1].seq);
    assert_eq!(mine[1].body, r#"{"n":2}"#);
    assert_eq!(mine[0].ordering_key.as_deref(), Some("k"));
}

/// Documents: create once, compare-and-swap replace and delete (a stale version writes
/// nothing, its event included), keyset pagination with a filter, and the settings.
async fn documents(store: &Store, tag: &str) {
    let coll = format!("c{tag}");
    let doc = |id: &str, body: &str, version: i64| DocumentRecord {
        collection: coll.clone(),
        id: id.into(),
        body: body.into(),
        etag: format!("tag-{body}"),
        version,
        created_ms: 1_000,
        modified_ms: 1_000 * version,
    };
    let event = |n: &str| OutboxRecord {
        seq: 0,
        message_id: format!("msg_doc_{tag}_{n}"),
        topic: coll.clone(),
        body: n.into(),
        attributes: "{}".into(),
        subject: None,
        ordering_key: None,
        created_ms: 1_000,
    };
    let events = || async {
        let all = store.outbox(0, 100_000).await.unwrap();
        all.into_iter().filter(|r| r.topic == coll).map(|r| r.body).collect::<Vec<_>>()
    };

    assert_eq!(store.document(&coll, "a").await.unwrap(), None);
    assert!(store
        .create_document(&doc("a", r#"{"n":1}"#, 1), Some(&event("created a")))
        .await
        .unwrap());
    assert!(
        !store.create_document(&doc("a", r#"{"n":9}"#, 1), Some(&event("again"))).await.unwrap(),
        "an id is created once, and the event of a failed write is not kept"
    );
    assert_eq!(store.document(&coll, "a").await.unwrap(), Some(doc("a", r#"{"n":1}"#, 1)));

    // Two writers read version 1; the first wins, the second writes nothing.
    assert!(store
        .replace_document(&doc("a", r#"{"n":2}"#, 2), 1, Some(&event("updated a")))
        .await
        .unwrap());
    assert!(!store
        .replace_document(&doc("a", r#"{"n":3}"#, 2), 1, Some(&event("lost")))
        .await
        .unwrap());
    let a = store.document(&coll, "a").await.unwrap().unwrap();
    assert_eq!((a.body.as_str(), a.version, a.created_ms), (r#"{"n":2}"#, 2, 1_000));
    assert!(!store.delete_document(&coll, "a", 1, Some(&event("stale"))).await.unwrap());
    assert!(store.delete_document(&coll, "a", 2, Some(&event("deleted a"))).await.unwrap());
    assert_eq!(store.document(&coll, "a").await.unwrap(), None);
    assert!(!store.replace_document(&doc("a", "{}", 3), 2, None).await.unwrap(), "gone");
    assert_eq!(events().await, ["created a", "updated a", "deleted a"]);

    // Pages in id order, after a key, with a filter read past a short batch.
    for i in 0..300 {
        let body = format!(r#"{{"i":{i}}}"#);
        assert!(store.create_document(&doc(&format!("k{i:03}"), &body, 1), None).await.unwrap());
    }
    let ids = |page: Vec<DocumentRecord>| page.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let all = |_: &DocumentRecord| true;
    assert_eq!(ids(store.documents(&coll, None, 3, all).await.unwrap()), ["k000", "k001", "k002"]);
    assert_eq!(ids(store.documents(&coll, Some("k001"), 2, all).await.unwrap()), ["k002", "k003"]);
    assert_eq!(store.documents(&coll, Some("k299"), 10, all).await.unwrap(), vec![]);
    assert_eq!(store.documents(&coll, None, 1000, all).await.unwrap().len(), 300);
    let tens = |d: &DocumentRecord| d.id.ends_with('0') && d.id.as_str() > "k100";
    let page = ids(store.documents(&coll, Some("k005"), 3, tens).await.unwrap());
    assert_eq!(page, ["k110", "k120", "k130"]);
    let page = ids(store.documents(&coll, Some("k250"), 100, tens).await.unwrap());
    assert_eq!(page, ["k260", "k270", "k280", "k290"]);
    // Ids are ordered by their bytes on both backends, whatever PostgreSQL's locale.
    for id in ["b", "B", "a", "é", "Z", "_"] {
        assert!(store.create_document(&doc(id, "{}", 1), None).await.unwrap());
    }
    let first = ids(store.documents(&coll, None, 6, all).await.unwrap());
    assert_eq!(first, ["B", "Z", "_", "a", "b", "k000"]);
    let last = store.documents(&coll, Some("k299"), 5, all).await.unwrap();
    assert_eq!(ids(last), ["é"]);
    let other = format!("other{tag}");
    assert_eq!(store.documents(&other, None, 10, all).await.unwrap(), vec![]);

    // Settings: the first value set stays.
    let name = format!("s{tag}");
    assert_eq!(store.setting_or_init(&name, "one").await.unwrap(), "one");
    assert_eq!(store.setting_or_init(&name, "two").await.unwrap(), "one");
}

/// The job queue: enqueue once, lease to one node at a time, lapsed leases claimed again,
/// retries and final failures, completion.
async fn jobs(store: &Store, tag: &str) {
    let kind = format!("test{tag}");
    let job = |id: &str, run_at_ms: i64| JobRecord {
        id: format!("{id}{tag}"),
        kind: kind.clone(),
        target: "f".into(),
        payload: format!(r#"{{"n":"{id}"}}"#),
        status: "pending".into(),
        attempts: 0,
        run_at_ms,
        lease_owner: None,
        lease_until_ms: 0,
        last_error: None,
        created_ms: run_at_ms,
        updated_ms: run_at_ms,
    };
    assert!(store.enqueue_job(&job("a", 100)).await.unwrap());
    assert!(!store.enqueue_job(&job("a", 100)).await.unwrap(), "ids are idempotency keys");
    assert!(store.enqueue_job(&job("b", 200)).await.unwrap());
    assert!(store.enqueue_job(&job("later", 10_000)).await.unwrap());
    assert_eq!(store.pending_jobs(&kind).await.unwrap(), 3);

    let claimed = store.claim_jobs(&kind, "n1", 1_000, 5_000, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, [format!("a{tag}"), format!("b{tag}")], "due jobs, oldest first");
    assert_eq!(claimed[0].lease_owner.as_deref(), Some("n1"));
    assert!(store.claim_jobs(&kind, "n2", 2_000, 6_000, 10).await.unwrap().is_empty());
    // n1 dies; its leases lapse and n2 takes the jobs.
    let retaken = store.claim_jobs(&kind, "n2", 5_000, 9_000, 1).await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].id, format!("a{tag}"));
    assert!(!store.complete_job(&retaken[0].id, "n1").await.unwrap(), "n1 lost its lease");
    assert!(store.complete_job(&retaken[0].id, "n2").await.unwrap());

    let b = store.claim_jobs(&kind, "n2", 5_000, 9_000, 1).await.unwrap().remove(0);
    assert!(store.fail_job_attempt(&b.id, "n2", Some(7_000), "boom", 5_000).await.unwrap());
    assert!(store.claim_jobs(&kind, "n2", 6_000, 9_000, 10).await.unwrap().is_empty());
    let b = store.claim_jobs(&kind, "n2", 7_000, 9_000, 10).await.unwrap().remove(0);
    assert_eq!((b.attempts, b.last_error.as_deref()), (1, Some("boom")));
    assert!(store.fail_job_attempt(&b.id, "n2", None, "boom again", 7_500).await.unwrap());
    let failed = store.jobs(&kind, "f", "failed", 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].attempts, failed[0].status.as_str()), (2, "failed"));
    assert_eq!(failed[0].last_error.as_deref(), Some("boom again"));
    assert_eq!(store.pending_jobs(&kind).await.unwrap(), 1, "the later job waits");
}

#[tokio::test]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("baton-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("baton.db").display());
    story(Store::open(&url).await.unwrap()).await;
    // Opening again finds the schema current.
    Store::open(&url).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn postgres() {
    let Ok(url) = std::env::var("BATON_TEST_POSTGRES_URL") else {
        eprintln!("BATON_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run");
        return;
    };
    let fresh = store::testing::fresh_postgres(&url).await.unwrap();
    let store = Store::open(&fresh).await.unwrap();
    story(store.clone()).await;
    drop(store);
    store::testing::drop_database(&url, &fresh).await;
}

#[tokio::test]
async fn rejects_unknown_urls() {
    assert!(matches!(Store::open("mysql://x").await, Err(store::Error::UnsupportedUrl(_))));
}

/// An active subscription `id` of `topic` to a loopback endpoint named `path`, made at `at_ms`.
fn subscription(id: &str, topic: &str, path: &str, at_ms: i64) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.to_owned(),
        topic: topic.to_owned(),
        endpoint: format!("http://127.0.0.1:9/{path}"),
        filter_policy: None,
        filter_scope: "MessageAttributes".into(),
        raw: 0,
        secrets: r#"["whsec_x"]"#.into(),
        retry_schedule: None,
        status: "active".into(),
        created_ms: at_ms,
        updated_ms: at_ms,
    }
}
