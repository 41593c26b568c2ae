//! Staff sign-in runs the gate's login sequence: failed FTP logins and failed sign-ins from one
//! address count together towards blocking it, and a sign-in is counted under `http`.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{Backend, TestEnv};
use freightdrop::backoffice::{router, AppState};
use freightdrop::config::{Config, ConfigArgs};
use freightdrop::db::Db;
use freightdrop::exchange::Core;
use freightdrop::gate::Refusal;
use freightdrop::staff::Staff;
use freightdrop::users::{NewUser, Password, Protocol, ProtocolSet};
use tower::ServiceExt as _;

fn sign_in(from: &str, password: &str) -> Request<Body> {
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("name=boss&password={password}")))
        .expect("request");
    let addr: std::net::SocketAddr = from.parse().expect("address");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    request
}

#[tokio::test]
async fn failed_partner_logins_block_staff_sign_in_from_that_address() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let args = ConfigArgs {
        data_dir: Some(env.data_dir()),
        database_url: Some(env.database_url.clone()),
        login_block: Some(60),
        ..ConfigArgs::default()
    };
    let config = Config::load(&args).expect("config");
    std::fs::create_dir_all(config.homes_dir()).expect("homes");
    let db = Db::connect(&config.database_url).await.expect("db");
    let (core, _arrivals) = Core::new(config, &db);
    core.users()
        .add(NewUser {
            name: "acme".into(),
            customer: "1234".into(),
            password: Password::new("partner password 1"),
            protocols: ProtocolSet::all(),
            require_tls: false,
            format: None,
            max_upload_bytes: None,
            inbox_ftp_plain: None,
        })
        .await
        .expect("user");
    Staff::new(db.clone())
        .add("boss", Password::new("correct horse battery"))
        .await
        .expect("admin");
    let state = AppState::new(core.clone(), db).expect("state");
    let app = router(state);
    let location = |response: &axum::response::Response| {
        response.headers()[header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned()
    };

    // One failed staff sign-in, then four wrong FTP passwords from the same address.
    let response = app
        .clone()
        .oneshot(sign_in("203.0.113.9:5000", "wrong"))
        .await
        .expect("response");
    assert_eq!(location(&response), "/login?failed=1");
    let peer = "203.0.113.9".parse().expect("ip");
    for _ in 0..4 {
        let refused = core
            .gate()
            .login_password(peer, "acme", Password::new("wrong"), Protocol::Ftp)
            .await;
        assert!(matches!(refused, Err(Refusal::Denied(_))), "{refused:?}");
    }

    // The address is blocked for staff too, even with the right password.
    let response = app
        .clone()
        .oneshot(sign_in("203.0.113.9:5001", "correct%20horse%20battery"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?failed=blocked");
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    // Another address signs in.
    let response = app
        .clone()
        .oneshot(sign_in("203.0.113.10:5000", "correct%20horse%20battery"))
        .await
        .expect("response");
    assert_eq!(location(&response), "/");

    let metrics = core.metrics().render();
    for line in [
        "freightdrop_logins_total{protocol=\"http\",result=\"ok\"} 1",
        "freightdrop_logins_total{protocol=\"http\",result=\"failed\"} 1",
        "freightdrop_logins_total{protocol=\"http\",result=\"blocked\"} 1",
        "freightdrop_logins_total{protocol=\"ftp\",result=\"failed\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}
