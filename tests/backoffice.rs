//! The backoffice through its router (`router(state).oneshot(request)`), on SQLite and
//! PostgreSQL: who may call what, the users API with its errors, the file ledger, orders,
//! publishing, and the OpenAPI document against what is served.

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::{Backend, TestEnv};
use freightdrop::backoffice::{router, AppState};
use freightdrop::config::{Config, ConfigArgs};
use freightdrop::db::Db;
use freightdrop::exchange::Core;
use freightdrop::staff::Staff;
use freightdrop::users::Password;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

/// A router over a fresh store, with an admin `boss` and a bearer token for it.
struct Api {
    router: Router,
    token: String,
    env: TestEnv,
    db: Db,
}

impl Api {
    async fn new(backend: Backend) -> Self {
        Self::with(backend, ConfigArgs::default()).await
    }

    async fn with(backend: Backend, args: ConfigArgs) -> Self {
        let env = TestEnv::new(backend).await;
        let args = ConfigArgs {
            data_dir: Some(env.data_dir()),
            database_url: Some(env.database_url.clone()),
            login_block: Some(60),
            ..args
        };
        let config = Config::load(&args).expect("config");
        std::fs::create_dir_all(config.homes_dir()).expect("homes");
        let db = Db::connect(&config.database_url).await.expect("db");
        let (core, _arrivals) = Core::new(config, &db);
        let state = AppState::new(core, db.clone()).expect("state");
        let staff = Staff::new(db.clone());
        staff
            .add("boss", Password::new("correct horse battery"))
            .await
            .expect("admin");
        let token = staff.issue_token("boss", None, false).await.expect("token");
        Self {
            router: router(state),
            token: token.expose().to_owned(),
            env,
            db,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value, headers)
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let (status, value, _) = self.send(request.body(body).expect("request")).await;
        (status, value)
    }

    /// Makes the user `acme` (customer ACME) and runs the inbox pipeline on `files` dropped
    /// in its inbox, as the server would.
    async fn user_with_files(&self, files: &[(&str, &str)]) {
        self.call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "acme", "customer": "ACME"})),
        )
        .await;
        let pipeline = freightdrop::inbox::pipeline(
            &self.db,
            self.env.data_dir().join("homes"),
            inbox_processor::Settings::default(),
        );
        let uploader = inbox_processor::Uploader {
            user: "acme".into(),
            customer: "ACME".into(),
            format: None,
        };
        for (name, content) in files {
            common::inbox::drop_file(&self.home("acme"), name, content.as_bytes());
            pipeline
                .process(&uploader, name, None)
                .await
                .expect("processed");
        }
    }

    fn home(&self, user: &str) -> std::path::PathBuf {
        self.env.home(user)
    }
}

fn error_text(value: &Value) -> &str {
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no JSON error in {value}"))
}

async fn only_health_and_login_answer_without_credentials(backend: Backend) {
    let api = Api::new(backend).await;
    for (method, uri) in [
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/users"),
        (Method::GET, "/api/v1/files"),
        (Method::GET, "/api/v1/outgoing"),
        (Method::GET, "/api/v1/orders"),
        (Method::GET, "/api/v1/openapi.json"),
        (Method::GET, "/api/v1/session"),
        (Method::GET, "/metrics"),
        (Method::GET, "/assets/app.js"),
        (Method::DELETE, "/api/v1/users/x"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let (status, value, _) = api.send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert!(error_text(&value).contains("Bearer"));
    }
    // A wrong token is refused the same way.
    let request = Request::get("/api/v1/users")
        .header(header::AUTHORIZATION, "Bearer fdt_nope")
        .body(Body::empty())
        .expect("request");
    assert_eq!(api.send(request).await.0, StatusCode::UNAUTHORIZED);
    // The page sends a stranger to the login page; the login page and /healthz answer.
    let (status, _, headers) = api
        .send(Request::get("/").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login");
    let (status, _, headers) = api
        .send(Request::get("/login").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .contains("script-src 'self'"));
    let (status, value, _) = api
        .send(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["database"], "up");
}

fn login_request(name: &str, password: &str) -> Request<Body> {
    Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("name={name}&password={password}")))
        .expect("request")
}

async fn cookie_sessions_need_the_csrf_token_for_changes(backend: Backend) {
    let api = Api::new(backend).await;
    let (status, _, headers) = api
        .send(login_request("boss", "correct%20horse%20battery"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    let set_cookie = headers[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP, no proxy: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();

    let (status, session, _) = api
        .send(
            Request::get("/api/v1/session")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["admin"], "boss");
    let csrf = session["csrfToken"].as_str().expect("csrf").to_owned();

    let create = |csrf: Option<&str>| {
        let mut request = Request::post("/api/v1/users")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request
            .body(Body::from(
                json!({"name": "acme", "customer": "ACME"}).to_string(),
            ))
            .expect("request")
    };
    let (status, value, _) = api.send(create(None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_text(&value).contains("CSRF"));
    let (status, _, _) = api.send(create(Some("wrong"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, value, _) = api.send(create(Some(&csrf))).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");

    // The page itself loads for the session, and signing out ends it.
    let (status, _, _) = api
        .send(
            Request::get("/")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api
        .send(
            Request::post("/logout")
                .header(header::COOKIE, &cookie)
                .header("X-CSRF-Token", &csrf)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api
        .send(
            Request::get("/api/v1/users")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A cross-site form post to /login is refused.
    let mut foreign = login_request("boss", "correct%20horse%20battery");
    foreign.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("origin"),
    );
    foreign
        .headers_mut()
        .insert(header::HOST, "backoffice.local".parse().expect("host"));
    assert_eq!(api.send(foreign).await.0, StatusCode::FORBIDDEN);
}

async fn failed_sign_ins_block_the_address(backend: Backend) {
    let api = Api::new(backend).await;
    for _ in 0..5 {
        let (status, _, headers) = api.send(login_request("boss", "wrong-password")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/login?failed=1");
    }
    // Now even the right password is refused for a while.
    let (_, _, headers) = api
        .send(login_request("boss", "correct%20horse%20battery"))
        .await;
    assert_eq!(headers[header::LOCATION], "/login?failed=blocked");
    assert!(headers.get(header::SET_COOKIE).is_none());
}

async fn users_api_manages_accounts_with_clear_errors(backend: Backend) {
    let api = Api::new(backend).await;
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "acme", "customer": "ACME", "protocols": ["ftps", "sftp"], "require_tls": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    let generated = value["generated_password"].as_str().expect("password");
    assert_eq!(generated.len(), 20);
    assert_eq!(value["user"]["protocols"], json!(["ftps", "sftp"]));
    assert!(api.home("acme").join("out").is_dir());

    // A typed password is not echoed back.
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "bolt", "customer": "BOLT", "password": "a typed password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(value["generated_password"].is_null());

    // Errors: duplicate, bad values, unknown fields, unknown user, malformed JSON.
    let cases = [
        (
            json!({"name": "acme", "customer": "ACME"}),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            json!({"name": "../x", "customer": "ACME"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid user name",
        ),
        (
            json!({"name": "c1", "customer": "A B"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "customer",
        ),
        (
            json!({"name": "c2", "customer": "C", "protocols": ["gopher"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "protocol",
        ),
        (
            json!({"name": "c3", "customer": "C", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too short",
        ),
        (
            json!({"name": "c4", "customer": "C", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
    ];
    for (body, code, text) in cases {
        let (status, value) = api
            .call(Method::POST, "/api/v1/users", Some(body.clone()))
            .await;
        assert_eq!(status, code, "{body} -> {value}");
        assert!(error_text(&value).contains(text), "{body} -> {value}");
    }
    let request = Request::post("/api/v1/users")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .expect("request");
    let (status, value, _) = api.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&value).contains("JSON"));
    let (status, value) = api.call(Method::GET, "/api/v1/users/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&value).contains("nobody"));

    // Update: customer, format set then cleared, limit; enabled off and on.
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"customer": "ACME2", "format": "csv", "max_upload_bytes": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["user"]["customer"], "ACME2");
    assert_eq!(value["user"]["format"], "csv");
    let (_, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"format": null, "max_upload_bytes": null})),
        )
        .await;
    assert!(value["user"]["format"].is_null());
    assert!(value["user"]["max_upload_bytes"].is_null());
    let (_, value) = api
        .call(Method::POST, "/api/v1/users/acme/disable", None)
        .await;
    assert_eq!(value["user"]["enabled"], false);
    let (_, value) = api
        .call(Method::POST, "/api/v1/users/acme/enable", None)
        .await;
    assert_eq!(value["user"]["enabled"], true);

    // Passwords: generated, typed, refused.
    let (status, value) = api
        .call(Method::POST, "/api/v1/users/acme/password", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["generated_password"].as_str().map(str::len), Some(20));
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users/acme/password",
            Some(json!({"password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // SSH keys: add, duplicate, bad, remove by fingerprint (which has '/' and '+').
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@example";
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users/acme/keys",
            Some(json!({"public_key": key})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    let fingerprint = value["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users/acme/keys",
            Some(json!({"public_key": key})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users/acme/keys",
            Some(json!({"public_key": "ssh-ed25519 nonsense"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let encoded: String = fingerprint
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/users/acme/keys?fingerprint={encoded}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The list has both users; delete one with its home, keep the other's files.
    let (_, value) = api.call(Method::GET, "/api/v1/users", None).await;
    let names: Vec<&str> = value["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["acme", "bolt"]);
    let (status, _) = api.call(Method::DELETE, "/api/v1/users/acme", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!api.home("acme").exists());
    let (status, _) = api
        .call(Method::DELETE, "/api/v1/users/bolt?keep_files=true", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(api.home("bolt").exists());
    let (status, _) = api.call(Method::DELETE, "/api/v1/users/acme", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, value) = api.call(Method::PUT, "/api/v1/users", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(error_text(&value).contains("openapi"));
}

async fn publish(
    api: &Api,
    user: &str,
    name: &str,
    content: &str,
    replace: bool,
) -> (StatusCode, Value) {
    let request = Request::post(format!(
        "/api/v1/users/{user}/out?file={name}{}",
        if replace { "&replace=true" } else { "" }
    ))
    .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
    .header(header::CONTENT_TYPE, "application/octet-stream")
    .body(Body::from(content.to_owned()))
    .expect("request");
    let (status, value, _) = api.send(request).await;
    (status, value)
}

fn hidden_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("out")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

async fn publishing_writes_out_atomically_and_never_overwrites(backend: Backend) {
    let api = Api::new(backend).await;
    api.call(
        Method::POST,
        "/api/v1/users",
        Some(json!({"name": "acme", "customer": "ACME"})),
    )
    .await;
    let (status, value) = publish(&api, "acme", "orders-back.xml", "<a/>", false).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    assert_eq!(value["file"]["size"], 4);
    assert_eq!(value["file"]["published_by"], "boss");
    let out = api.home("acme").join("out");
    assert_eq!(
        std::fs::read_to_string(out.join("orders-back.xml")).expect("file"),
        "<a/>"
    );
    assert!(
        hidden_files(&out).is_empty(),
        "temp files left: {:?}",
        hidden_files(&out)
    );

    let (status, value) = publish(&api, "acme", "orders-back.xml", "<b/>", false).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_text(&value).contains("already"));
    assert_eq!(
        std::fs::read_to_string(out.join("orders-back.xml")).expect("file"),
        "<a/>"
    );
    let (status, _) = publish(&api, "acme", "orders-back.xml", "<b/>", true).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        std::fs::read_to_string(out.join("orders-back.xml")).expect("file"),
        "<b/>"
    );
    assert!(hidden_files(&out).is_empty());

    for bad in ["..%2Fescape", ".hidden", "a%2Fb"] {
        let (status, value) = publish(&api, "acme", bad, "x", false).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {value}");
    }
    assert!(!api.home("acme").join("escape").exists());
    let (status, _) = publish(&api, "nobody", "x.txt", "x", false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, value) = api
        .call(Method::GET, "/api/v1/outgoing?user=acme", None)
        .await;
    let files = value["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["moved_to"], Value::Null);
    assert_eq!(files[1]["moved_to"], "replaced");
}

async fn files_and_orders_come_from_the_ledger(backend: Backend) {
    let api = Api::new(backend).await;
    api.user_with_files(&[
        (
            "good.csv",
            &common::inbox::orders_csv("ACME", &["S1", "S2"]),
        ),
        ("bad.csv", common::inbox::BAD_CSV),
    ])
    .await;
    let (status, value) = api.call(Method::GET, "/api/v1/files?user=acme", None).await;
    assert_eq!(status, StatusCode::OK);
    let files = value["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let bad = files.iter().find(|f| f["name"] == "bad.csv").expect("bad");
    assert_eq!(bad["state"], "error");
    let report = bad["report"].as_str().expect("report");
    assert!(report.contains("31-02-2025"), "{report}");
    let (_, value) = api
        .call(Method::GET, "/api/v1/files?state=done", None)
        .await;
    assert_eq!(value["files"].as_array().map(Vec::len), Some(1));
    let (_, value) = api
        .call(Method::GET, "/api/v1/files?since=2999-01-01", None)
        .await;
    assert_eq!(value["files"].as_array().map(Vec::len), Some(0));
    let id = bad["id"].as_i64().expect("id");
    let (status, value) = api
        .call(Method::GET, &format!("/api/v1/files/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["file"]["name"], "bad.csv");
    let (status, _) = api.call(Method::GET, "/api/v1/files/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, value) = api
        .call(Method::GET, "/api/v1/files?state=lost", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&value).contains("state"));
    let (status, _) = api
        .call(Method::GET, "/api/v1/files?since=yesterday", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, value) = api
        .call(Method::GET, "/api/v1/orders?customer=ACME", None)
        .await;
    assert_eq!(value["orders"].as_array().map(Vec::len), Some(2));
    let (_, value) = api
        .call(Method::GET, "/api/v1/orders?shipment_id=S2", None)
        .await;
    assert_eq!(value["orders"][0]["shipmentID"], "S2");
    let (_, value) = api
        .call(Method::GET, "/api/v1/orders?customer=OTHER", None)
        .await;
    assert_eq!(value["orders"].as_array().map(Vec::len), Some(0));
    let (status, value) = api.call(Method::GET, "/api/v1/orders/ACME/S1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value["order"]["shipmentID"], "S1");
    assert!(value["history"].is_array());
    let (status, _) = api
        .call(Method::GET, "/api/v1/orders/ACME/NOPE", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn login_from(peer: &str, forwarded_for: &str, proto: &str, password: &str) -> Request<Body> {
    let mut request = login_request("boss", password);
    let addr: std::net::SocketAddr = peer.parse().expect("peer");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    let headers = request.headers_mut();
    headers.insert("x-forwarded-for", forwarded_for.parse().expect("xff"));
    headers.insert("x-forwarded-proto", proto.parse().expect("proto"));
    request
}

/// Behind a trusted proxy the client's own address counts (one partner can't block everyone
/// behind the proxy) and an HTTPS client gets a Secure cookie; from anyone else the forwarding
/// headers are ignored, so a client can't choose the address its failures count against.
async fn forwarding_headers_are_believed_only_from_trusted_proxies(backend: Backend) {
    let api = Api::with(
        backend,
        ConfigArgs {
            http_trusted_proxies: Some("127.0.0.0/8".into()),
            ..ConfigArgs::default()
        },
    )
    .await;
    for _ in 0..5 {
        let (_, _, headers) = api
            .send(login_from(
                "127.0.0.1:4000",
                "203.0.113.5",
                "https",
                "wrong",
            ))
            .await;
        assert_eq!(headers[header::LOCATION], "/login?failed=1");
    }
    let (_, _, headers) = api
        .send(login_from(
            "127.0.0.1:4000",
            "203.0.113.5",
            "https",
            "correct%20horse%20battery",
        ))
        .await;
    assert_eq!(headers[header::LOCATION], "/login?failed=blocked");
    // Another client behind the same proxy is not blocked, and gets a Secure cookie over HTTPS.
    let (_, _, headers) = api
        .send(login_from(
            "127.0.0.1:4000",
            "203.0.113.6",
            "https",
            "correct%20horse%20battery",
        ))
        .await;
    assert_eq!(headers[header::LOCATION], "/");
    let cookie = headers[header::SET_COOKIE].to_str().expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");

    // An untrusted peer's X-Forwarded-For is ignored: its failures count against itself.
    for i in 0..5 {
        api.send(login_from(
            "192.0.2.9:5000",
            &format!("198.51.100.{i}"),
            "https",
            "wrong",
        ))
        .await;
    }
    let (_, _, headers) = api
        .send(login_from(
            "192.0.2.9:5000",
            "198.51.100.200",
            "http",
            "correct%20horse%20battery",
        ))
        .await;
    assert_eq!(headers[header::LOCATION], "/login?failed=blocked");
}

/// Bearer tokens: a metrics-only token reads /metrics and nothing else; a revoked token is
/// refused; a token can't be created for an unknown admin.
async fn tokens_have_scopes_and_can_be_revoked(backend: Backend) {
    let api = Api::new(backend).await;
    let staff = Staff::new(api.db.clone());
    let metrics = staff
        .issue_token("boss", Some("prometheus"), true)
        .await
        .expect("token");
    let get = |path: &str, token: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let response = api
        .router
        .clone()
        .oneshot(get("/metrics", metrics.expose()))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, value, _) = api.send(get("/api/v1/users", metrics.expose())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_text(&value).contains("/metrics"));
    let tokens = staff.tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 2);
    let listed = tokens
        .iter()
        .find(|t| t.scope == "metrics")
        .expect("metrics token");
    assert_eq!(listed.label.as_deref(), Some("prometheus"));
    assert!(!listed.id.is_empty() && !metrics.expose().contains(&listed.id));
    staff.revoke_token(&listed.id).await.expect("revoked");
    let (status, _, _) = api.send(get("/metrics", metrics.expose())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(staff.revoke_token(&listed.id).await.is_err());
    assert!(staff.issue_token("nobody", None, false).await.is_err());
    // A password without a body is generated; the answer is not cached.
    let request = Request::post("/api/v1/users")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": "acme", "customer": "ACME"}).to_string(),
        ))
        .expect("request");
    let (status, _, headers) = api.send(request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let (status, value) = api
        .call(Method::POST, "/api/v1/users/acme/password", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["generated_password"].as_str().map(str::len), Some(20));
    let (status, value) = api
        .call(Method::GET, "/api/v1/files/not-a-number", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&value).contains("not valid"));
}

/// Every operation of the OpenAPI document is served, answers with a status the document lists
/// for it, and a successful JSON answer has the fields its schema requires.
async fn openapi_document_matches_what_is_served(backend: Backend) {
    let api = Api::new(backend).await;
    let (status, doc) = api.call(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    // Fixtures: a user with a processed file and a shipment.
    api.user_with_files(&[("good.csv", &common::inbox::orders_csv("ACME", &["S1"]))])
        .await;
    let (_, files) = api.call(Method::GET, "/api/v1/files", None).await;
    let file_id = files["files"][0]["id"].as_i64().expect("id").to_string();

    let schemas = &doc["components"]["schemas"];
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => schemas[reference.rsplit('/').next().unwrap_or_default()].clone(),
            None => schema.clone(),
        }
    };
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((path.clone(), method, item[method].clone()));
            }
        }
    }
    // Deletions last, so the fixtures live for every other call.
    operations.sort_by_key(|(path, method, _)| (*method == "delete", path.clone()));
    let documented: Vec<String> = operations
        .iter()
        .map(|(path, method, _)| format!("{} {path}", method.to_uppercase()))
        .collect();
    for route in SERVED_API_ROUTES {
        assert!(
            documented.iter().any(|d| d == route),
            "{route} is served but not documented"
        );
    }
    assert_eq!(
        documented.len(),
        SERVED_API_ROUTES.len(),
        "documented: {documented:?}"
    );

    for (path, method, operation) in operations {
        let mut uri = path
            .replace("{name}", "acme")
            .replace("{id}", &file_id)
            .replace("{customer}", "ACME")
            .replace("{shipment_id}", "S1");
        let required_query: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|params| {
                params
                    .iter()
                    .filter(|p| p["in"] == "query" && p["required"] == true)
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for (i, name) in required_query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&format!(
                "{name}={}",
                if *name == "file" {
                    "spec.txt"
                } else {
                    "SHA256:none"
                }
            ));
        }
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", api.token));
        let body = match (method.as_str(), path.as_str()) {
            ("POST", "/api/v1/users") => Some(json!({"name": "zed", "customer": "Z"})),
            ("PATCH", _) => Some(json!({"customer": "ACME"})),
            ("POST", "/api/v1/users/{name}/password") => Some(json!({})),
            ("POST", "/api/v1/users/{name}/keys") => Some(
                json!({"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl spec"}),
            ),
            _ => None,
        };
        let body = match (body, path.ends_with("/out")) {
            (Some(value), _) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            (None, true) => {
                request = request.header(header::CONTENT_TYPE, "application/octet-stream");
                Body::from("published by the spec test")
            }
            (None, false) => Body::empty(),
        };
        let (status, value, _) = api.send(request.body(body).expect("request")).await;
        let listed = &operation["responses"][status.as_str()];
        assert!(
            !listed.is_null(),
            "{method} {uri} answered {status}, not documented: {value}"
        );
        let expect_success = !(method == Method::DELETE && path.ends_with("/keys"));
        if expect_success {
            assert!(
                status.is_success(),
                "{method} {uri} failed with the fixtures: {status} {value}"
            );
        }
        if let Some(schema) = listed["content"]["application/json"].get("schema") {
            let schema = resolve(schema);
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().expect("field");
                assert!(
                    value.get(field).is_some(),
                    "{method} {uri}: no {field} in {value}"
                );
            }
            for (field, property) in schema["properties"].as_object().into_iter().flatten() {
                // One level down: the documented object's own required fields.
                let inner = resolve(property);
                if let (Some(object), Some(required)) =
                    (value.get(field), inner["required"].as_array())
                {
                    if object.is_object() {
                        for name in required.iter().filter_map(Value::as_str) {
                            assert!(
                                object.get(name).is_some(),
                                "{method} {uri}: {field} has no {name}: {object}"
                            );
                        }
                    }
                }
            }
        }
    }
    // What the document does not list is not served.
    let (status, value) = api.call(Method::GET, "/api/v1/shipments", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&value).contains("openapi.json"));
}

/// The API routes the router serves; the document must list exactly these.
const SERVED_API_ROUTES: &[&str] = &[
    "GET /api/v1/session",
    "GET /api/v1/users",
    "POST /api/v1/users",
    "GET /api/v1/users/{name}",
    "PATCH /api/v1/users/{name}",
    "DELETE /api/v1/users/{name}",
    "POST /api/v1/users/{name}/disable",
    "POST /api/v1/users/{name}/enable",
    "POST /api/v1/users/{name}/password",
    "POST /api/v1/users/{name}/keys",
    "DELETE /api/v1/users/{name}/keys",
    "POST /api/v1/users/{name}/out",
    "GET /api/v1/files",
    "GET /api/v1/files/{id}",
    "GET /api/v1/outgoing",
    "GET /api/v1/orders",
    "GET /api/v1/orders/{customer}/{shipment_id}",
    "GET /api/v1/openapi.json",
];

on_both_backends!(
    only_health_and_login_answer_without_credentials,
    super::only_health_and_login_answer_without_credentials
);
on_both_backends!(
    cookie_sessions_need_the_csrf_token_for_changes,
    super::cookie_sessions_need_the_csrf_token_for_changes
);
on_both_backends!(
    failed_sign_ins_block_the_address,
    super::failed_sign_ins_block_the_address
);
on_both_backends!(
    users_api_manages_accounts_with_clear_errors,
    super::users_api_manages_accounts_with_clear_errors
);
on_both_backends!(
    publishing_writes_out_atomically_and_never_overwrites,
    super::publishing_writes_out_atomically_and_never_overwrites
);
on_both_backends!(
    files_and_orders_come_from_the_ledger,
    super::files_and_orders_come_from_the_ledger
);
on_both_backends!(
    openapi_document_matches_what_is_served,
    super::openapi_document_matches_what_is_served
);
on_both_backends!(
    forwarding_headers_are_believed_only_from_trusted_proxies,
    super::forwarding_headers_are_believed_only_from_trusted_proxies
);
on_both_backends!(
    tokens_have_scopes_and_can_be_revoked,
    super::tokens_have_scopes_and_can_be_revoked
);

/// `inbox_ftp_plain` through the users API: set at creation, changed, cleared with null (the
/// server's default), refused when unknown.
async fn users_api_carries_the_plain_ftp_policy(backend: Backend) {
    let api = Api::new(backend).await;
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "acme", "customer": "ACME", "inbox_ftp_plain": "refuse"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    assert_eq!(value["user"]["inbox_ftp_plain"], "refuse");
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"inbox_ftp_plain": "require-rename"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["user"]["inbox_ftp_plain"], "require-rename");
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"inbox_ftp_plain": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert!(value["user"]["inbox_ftp_plain"].is_null(), "{value}");
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"inbox_ftp_plain": "sometimes"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
    assert!(error_text(&value).contains("plain-FTP"), "{value}");
}

on_both_backends!(
    users_api_carries_the_plain_ftp_policy,
    super::users_api_carries_the_plain_ftp_policy
);

/// `mail_senders` through the users API: set at creation (lower-cased), replaced by a PATCH,
/// a bad pattern refused without making or changing anything.
async fn users_api_carries_the_mail_senders(backend: Backend) {
    let api = Api::new(backend).await;
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "bad", "customer": "B", "mail_senders": ["not-an-address"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
    assert!(
        error_text(&value).contains("invalid mail sender"),
        "{value}"
    );
    let (status, _) = api.call(Method::GET, "/api/v1/users/bad", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, value) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"name": "acme", "customer": "ACME", "protocols": ["sftp", "mail"],
                        "mail_senders": ["Orders@Partner.Example"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    assert_eq!(
        value["user"]["mail_senders"],
        json!(["orders@partner.example"])
    );
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"mail_senders": ["*@edi.example", "orders@partner.example"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(
        value["user"]["mail_senders"],
        json!(["*@edi.example", "orders@partner.example"])
    );
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"mail_senders": ["*@*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
    let (_, value) = api.call(Method::GET, "/api/v1/users/acme", None).await;
    assert_eq!(
        value["user"]["mail_senders"].as_array().map(Vec::len),
        Some(2)
    );
    let (status, value) = api
        .call(
            Method::PATCH,
            "/api/v1/users/acme",
            Some(json!({"mail_senders": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["user"]["mail_senders"], json!([]));
}

on_both_backends!(
    users_api_carries_the_mail_senders,
    super::users_api_carries_the_mail_senders
);
