//! The shared login gate against a real store: pipelined guesses from one address are checked
//! in turn, so the block lands after the configured number of failures, not after the batch.

mod common;

use std::time::Duration;

use common::{Backend, TestEnv};
use freightdrop::config::LoginPolicy;
use freightdrop::gate::{Gate, Refusal};
use freightdrop::users::{Denial, NewUser, Password, Protocol, ProtocolSet};

#[tokio::test]
async fn pipelined_guesses_cannot_outrun_the_block() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let store = env.store().await;
    store
        .add(NewUser {
            name: "alice".into(),
            customer: "1".into(),
            password: Password::new("alice-password"),
            protocols: ProtocolSet::all(),
            require_tls: false,
            format: None,
            max_upload_bytes: None,
            inbox_ftp_plain: None,
        })
        .await
        .unwrap();
    let policy = LoginPolicy {
        max_failures: 3,
        window: Duration::from_secs(60),
        block_for: Duration::from_secs(60),
    };
    let gate = Gate::new(store, policy, 100, 10).with_refusal_delay(Duration::from_millis(50));
    let peer = "192.0.2.7".parse().unwrap();
    let attempts = (0..12).map(|i| {
        let gate = gate.clone();
        tokio::spawn(async move {
            gate.login_password(
                peer,
                "alice",
                Password::new(format!("guess-{i}")),
                Protocol::Ftp,
            )
            .await
        })
    });
    let mut checked = 0;
    let mut blocked = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Err(Refusal::Denied(Denial::BadCredentials)) => checked += 1,
            Err(Refusal::Blocked) => blocked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Two checks run at a time: at most one more guess than the limit gets its password checked.
    assert!(checked <= 4, "{checked} guesses were checked");
    assert_eq!(checked + blocked, 12);
    assert!(gate.is_blocked(peer));
    // The right password is refused too while blocked; another address is not affected.
    let right = gate
        .login_password(
            peer,
            "alice",
            Password::new("alice-password"),
            Protocol::Ftp,
        )
        .await;
    assert!(matches!(right, Err(Refusal::Blocked)));
    let other = "192.0.2.8".parse().unwrap();
    gate.login_password(
        other,
        "alice",
        Password::new("alice-password"),
        Protocol::Ftp,
    )
    .await
    .unwrap();
}
