//! The user store on both backends: every operation, the login rules, and the promise that a
//! user row never exists without its home and a home never without its row.

mod common;

use common::{Backend, TestEnv};
use freightdrop::users::{
    AuthError, Denial, NewUser, Password, Protocol, ProtocolSet, PublicKey, UserChanges, UserError,
};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKzTs/vll4hWUms0+zrEAFEYkLCAumkTGriSiS3SD9CI test@example";
const KEY_FINGERPRINT: &str = "SHA256:MJxKP0iAxtYrWEdWjRa61Zm3ZNyDUsKcI38V0NPxp5Y";

fn new_user(name: &str, password: &str) -> NewUser {
    NewUser {
        name: name.to_string(),
        customer: "1234".to_string(),
        password: Password::new(password),
        protocols: ProtocolSet::all(),
        require_tls: false,
        format: None,
        max_upload_bytes: None,
        inbox_ftp_plain: None,
    }
}

fn denial(result: Result<freightdrop::users::User, AuthError>) -> Denial {
    match result {
        Err(AuthError::Denied(d)) => d,
        Err(e) => panic!("expected a denial, got {e}"),
        Ok(u) => panic!("expected a denial, {} logged in", u.name),
    }
}

async fn add_get_list_and_the_home_tree(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = env.store().await;
    let user = store
        .add(new_user("alice", "alice-password"))
        .await
        .unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(user.customer, "1234");
    assert!(user.enabled);
    assert!(user.last_login_at.is_none());
    for folder in ["out", "done", "error"] {
        assert!(env.home("alice").join(folder).is_dir(), "{folder}");
    }
    store.add(new_user("bob", "bob-password")).await.unwrap();
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(matches!(
        store.add(new_user("alice", "another-one")).await,
        Err(UserError::Exists(_))
    ));
    assert!(store.get("carol").await.unwrap().is_none());
}
on_both_backends!(
    add_get_list_and_the_home_tree,
    super::add_get_list_and_the_home_tree
);

async fn refused_values_leave_nothing_behind(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = env.store().await;
    let cases = [
        new_user("../evil", "long-enough"),
        new_user("ok", "short"),
        NewUser {
            customer: "a customer code that is far too long".into(),
            ..new_user("ok2", "long-enough")
        },
        NewUser {
            format: Some("pdf".into()),
            ..new_user("ok3", "long-enough")
        },
        NewUser {
            max_upload_bytes: Some(0),
            ..new_user("ok4", "long-enough")
        },
    ];
    for case in cases {
        let name = case.name.clone();
        assert!(store.add(case).await.is_err(), "{name} accepted");
    }
    assert!(store.list().await.unwrap().is_empty());
    let homes = env.data_dir().join("homes");
    let leftovers = std::fs::read_dir(&homes).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0);
}
on_both_backends!(
    refused_values_leave_nothing_behind,
    super::refused_values_leave_nothing_behind
);

async fn a_home_that_cannot_be_made_leaves_no_row(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = env.store().await;
    std::fs::create_dir_all(env.data_dir().join("homes")).unwrap();
    // A file where the home should go: the folder can't be made, so the row must not stay.
    std::fs::write(env.home("dave"), "in the way").unwrap();
    assert!(matches!(
        store.add(new_user("dave", "dave-password")).await,
        Err(UserError::Home(_))
    ));
    assert!(store.get("dave").await.unwrap().is_none());
}
on_both_backends!(
    a_home_that_cannot_be_made_leaves_no_row,
    super::a_home_that_cannot_be_made_leaves_no_row
);

async fn login_rules(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = env.store().await;
    store
        .add(new_user("alice", "alice-password"))
        .await
        .unwrap();
    let ok = store
        .authenticate("alice", Password::new("alice-password"), Protocol::Ftp)
        .await
        .unwrap();
    assert_eq!(ok.customer, "1234");
    // The login recorder writes in the background; a flush (as at shutdown) waits for it.
    store.flush_logins().await;
    assert!(store
        .require("alice")
        .await
        .unwrap()
        .last_login_at
        .is_some());

    let wrong = store
        .authenticate("alice", Password::new("nope-nope"), Protocol::Ftp)
        .await;
    assert_eq!(denial(wrong), Denial::BadCredentials);
    let unknown = store
        .authenticate("nobody", Password::new("alice-password"), Protocol::Ftp)
        .await;
    assert_eq!(denial(unknown), Denial::UnknownUser);
    let odd = store
        .authenticate("../alice", Password::new("x"), Protocol::Ftp)
        .await;
    assert_eq!(denial(odd), Denial::UnknownUser);

    store.set_enabled("alice", false).await.unwrap();
    let disabled = store
        .authenticate("alice", Password::new("alice-password"), Protocol::Sftp)
        .await;
    assert_eq!(denial(disabled), Denial::Disabled);
    store.set_enabled("alice", true).await.unwrap();
    // Enabling travels with the other settings in one write.
    let changed = store
        .update(
            "alice",
            UserChanges {
                enabled: Some(false),
                max_upload_bytes: Some(Some(1 << 20)),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert!(!changed.enabled);
    assert_eq!(changed.max_upload_bytes, Some(1 << 20));
    let changed = store
        .update(
            "alice",
            UserChanges {
                enabled: Some(true),
                max_upload_bytes: Some(None),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert!(changed.enabled);

    store
        .update(
            "alice",
            UserChanges {
                protocols: Some(ProtocolSet::parse("ftps,sftp").unwrap()),
                require_tls: Some(true),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    let plain = store
        .authenticate("alice", Password::new("alice-password"), Protocol::Ftp)
        .await;
    assert_eq!(denial(plain), Denial::ProtocolNotAllowed);
    store
        .authenticate("alice", Password::new("alice-password"), Protocol::Ftps)
        .await
        .unwrap();

    store
        .update(
            "alice",
            UserChanges {
                protocols: Some(ProtocolSet::all()),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    let cleartext = store
        .authenticate("alice", Password::new("alice-password"), Protocol::Ftp)
        .await;
    assert_eq!(denial(cleartext), Denial::TlsRequired);

    store
        .set_password("alice", Password::new("a-new-password"))
        .await
        .unwrap();
    let old = store
        .authenticate("alice", Password::new("alice-password"), Protocol::Sftp)
        .await;
    assert_eq!(denial(old), Denial::BadCredentials);
    store
        .authenticate("alice", Password::new("a-new-password"), Protocol::Sftp)
        .await
        .unwrap();
}
on_both_backends!(login_rules, super::login_rules);

async fn keys_update_and_remove(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let store = env.store().await;
    store
        .add(new_user("alice", "alice-password"))
        .await
        .unwrap();
    let key = PublicKey::parse(KEY).unwrap();
    assert_eq!(store.add_key("alice", &key).await.unwrap(), KEY_FINGERPRINT);
    assert!(matches!(
        store.add_key("alice", &key).await,
        Err(UserError::KeyExists { .. })
    ));
    store.authenticate_key("alice", key.blob()).await.unwrap();
    let user = store.require("alice").await.unwrap();
    assert_eq!(user.keys.len(), 1);
    assert_eq!(user.keys[0].public_key, KEY);
    store.remove_key("alice", KEY_FINGERPRINT).await.unwrap();
    assert!(matches!(
        store.remove_key("alice", KEY_FINGERPRINT).await,
        Err(UserError::KeyNotFound { .. })
    ));
    let no_key = store.authenticate_key("alice", key.blob()).await;
    assert_eq!(denial(no_key), Denial::BadCredentials);

    let changed = store
        .update(
            "alice",
            UserChanges {
                customer: Some("5678".into()),
                format: Some(Some("CSV".into())),
                max_upload_bytes: Some(Some(1_000_000)),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.customer, "5678");
    assert_eq!(changed.format.as_deref(), Some("csv"));
    assert_eq!(changed.max_upload_bytes, Some(1_000_000));

    store.add_key("alice", &key).await.unwrap();
    std::fs::write(env.home("alice").join("order.csv"), "x").unwrap();
    store.remove("alice", true).await.unwrap();
    assert!(store.get("alice").await.unwrap().is_none());
    assert!(env.home("alice").join("order.csv").is_file(), "kept files");
    // Re-adding reuses the kept home; the old key does not come back.
    let again = store
        .add(new_user("alice", "alice-password"))
        .await
        .unwrap();
    assert!(again.keys.is_empty());
    assert!(env.home("alice").join("order.csv").is_file());
    store.remove("alice", false).await.unwrap();
    assert!(!env.home("alice").exists());
    assert!(matches!(
        store.remove("alice", false).await,
        Err(UserError::NotFound(_))
    ));
}
on_both_backends!(keys_update_and_remove, super::keys_update_and_remove);
