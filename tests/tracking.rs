//! The track & trace API against the real server on SQLite and PostgreSQL, driven with curl and
//! signed the way partners sign in shell (`printf '%s%s' "$ts" "$SECRET" | md5sum`): a good
//! signature gets the order in XML or JSON with its public status history; a wrong or stale
//! signature, another customer's shipment, an unknown shipment or a wrong postcode all get the
//! same 401; a missing parameter gets a 400; repeated bad signatures block the address. And the
//! `apikey` commands: the secret is printed once, never listed, and bad calls exit 2.

mod common;

use std::process::Command;

use common::inbox::{drop_file, placed, wait_placed};
use common::server::TestServer;
use common::{stderr, stdout, Backend, TestEnv};

const ORDERS: &str = "customerID;shipmentID;orderReference;deliveryType;pickupName;pickupAddress;\
pickupPostcode;pickupCity;pickupCountry;deliveryName;deliveryAddress;deliveryHouseNbr;\
deliveryPostcode;deliveryCity;deliveryCountry;deliveryDate;colli;packing;weight\n\
1234;S1;PO-1;express;Warehouse A;Dock 1;1000 AA;Amsterdam;NL;Jansen & Zn <BV>;Main St;12;\
7418 EV;Deventer;NL;2025-06-02;10;carton;525.5\n\
1234;S1;PO-1;express;Warehouse A;Dock 1;1000 AA;Amsterdam;NL;Jansen & Zn <BV>;Main St;12;\
7418 EV;Deventer;NL;2025-06-02;2;pallet;80\n";

const OTHER_ORDERS: &str = "customerID;shipmentID;deliveryName;deliveryPostcode;deliveryCity;\
deliveryCountry;deliveryDate;colli;packing\n\
5678;T1;Other Co;7418 EV;Deventer;NL;2025-06-03;1;carton\n";

const STATUSES: &str = "shipmentID,status,location,signee\n\
S1,+2025-06-02 08:00 _batchentry,Hub Zwolle,\n\
S1,+2025-06-02 09:30 loaded,Amsterdam,\n\
S1,+2025-06-02 14:20 delivered,Deventer,J. Jansen\n";

/// A server with shipments S1 (customer 1234, delivery postcode `7418 EV`, with a public and
/// an internal status) and T1 (customer 5678), and an API user for each customer.
struct Scenario {
    server: TestServer,
    /// The secret of `shop-api` (customer 1234).
    secret: String,
    /// The secret of `other-api` (customer 5678).
    other_secret: String,
}

async fn scenario(backend: Backend, extra: &[&str]) -> Scenario {
    let server = TestServer::start(backend, extra).await;
    server.add_user("alice", "alice-password", &[]);
    server.env.add_user("bob", "5678", "bob-password", &[]);
    let alice = server.env.home("alice");
    drop_file(&alice, "orders.csv", ORDERS.as_bytes());
    wait_placed(&alice, 1);
    drop_file(&alice, "status.csv", STATUSES.as_bytes());
    wait_placed(&alice, 2);
    let bob_home = server.env.home("bob");
    drop_file(&bob_home, "orders.csv", OTHER_ORDERS.as_bytes());
    wait_placed(&bob_home, 1);
    for home in [&alice, &bob_home] {
        let (_, error) = placed(home);
        assert!(error.is_empty(), "files in error/: {error:?}");
    }
    let secret = add_api_user(&server.env, "shop-api", "1234");
    let other_secret = add_api_user(&server.env, "other-api", "5678");
    Scenario {
        server,
        secret,
        other_secret,
    }
}

/// Adds an API user with the CLI; returns the secret it printed.
fn add_api_user(env: &TestEnv, name: &str, customer: &str) -> String {
    let out = env.cli(&["apikey", "add", name, "--customer", customer], None);
    assert!(out.status.success(), "apikey add: {}", stderr(&out));
    secret_of(&stdout(&out))
}

fn secret_of(text: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret in {text:?}"))
        .trim()
        .to_owned()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The signature as a partner's shell script makes it.
fn sign(ts: &str, secret: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            r#"printf '%s%s' "$TS" "$SECRET" | md5sum | cut -d' ' -f1"#,
        ])
        .env("TS", ts)
        .env("SECRET", secret)
        .output()
        .expect("run md5sum");
    assert!(out.status.success());
    stdout(&out).trim().to_owned()
}

/// A reply: status, content type and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Scenario {
    /// GET /api/order?QUERY with curl, with an `Accept` header if given.
    fn get(&self, query: &str, accept: Option<&str>) -> Reply {
        let url = format!("http://{}/api/order?{query}", self.server.addr("http"));
        let mut command = Command::new("curl");
        command.args([
            "-s",
            "-g",
            "--max-time",
            "30",
            "-w",
            "\n%{http_code}\n%{content_type}",
        ]);
        if let Some(accept) = accept {
            command.args(["-H", &format!("Accept: {accept}")]);
        }
        let out = command.arg(&url).output().expect("run curl");
        assert!(out.status.success(), "curl {url}: {}", stderr(&out));
        let text = stdout(&out);
        let mut parts = text.rsplitn(3, '\n');
        let content_type = parts.next().unwrap_or_default().to_owned();
        let status = parts.next().unwrap_or_default().parse().expect("status");
        let body = parts.next().unwrap_or_default().to_owned();
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// A query for `shipment` and `postcode` signed at `ts` with `secret`.
    fn query(shipment: &str, postcode: &str, ts: i64, secret: &str) -> String {
        let ts = ts.to_string();
        let sig = sign(&ts, secret);
        format!("ShipmentID={shipment}&Postcode={postcode}&ts={ts}&sig={sig}")
    }
}

on_both_backends!(
    a_good_signature_gets_the_order_in_xml,
    super::a_good_signature_gets_the_order_in_xml
);
async fn a_good_signature_gets_the_order_in_xml(backend: Backend) {
    let s = scenario(backend, &[]).await;
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type, "application/xml; charset=utf-8");
    let xml = &reply.body;
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order>"),
        "{xml}"
    );
    for expected in [
        "<shipmentID>S1</shipmentID>",
        "<customerID>1234</customerID>",
        "<orderReference>PO-1</orderReference>",
        "<deliveryType>express</deliveryType>",
        "<pickupName>Warehouse A</pickupName>",
        "<pickupAddress>Dock 1</pickupAddress>",
        "<pickupPostcode>1000 AA</pickupPostcode>",
        "<pickupCity>Amsterdam</pickupCity>",
        "<deliveryName>Jansen &amp; Zn &lt;BV&gt;</deliveryName>",
        "<deliveryAddress>Main St</deliveryAddress>",
        "<deliveryHouseNbr>12</deliveryHouseNbr>",
        "<deliveryPostcode>7418 EV</deliveryPostcode>",
        "<deliveryCity>Deventer</deliveryCity>",
        "<deliveryDate>2025-06-02</deliveryDate>",
        "<quantity>10</quantity>",
        "<packing>carton</packing>",
        "<weight>525.5</weight>",
        "<quantity>2</quantity>",
        "<status at=\"2025-06-02T09:30:00\" location=\"Amsterdam\">loaded</status>",
        "<status at=\"2025-06-02T14:20:00\" location=\"Deventer\" signee=\"J. Jansen\">delivered</status>",
    ] {
        assert!(xml.contains(expected), "{expected} missing in\n{xml}");
    }
    assert_eq!(xml.matches("<line>").count(), 2, "{xml}");
    assert_eq!(xml.matches("<status ").count(), 2, "{xml}");
    // The internal status is never shown, nor anything of it.
    assert!(!xml.contains("batchentry"), "{xml}");
    assert!(!xml.contains("Zwolle"), "{xml}");
    // The API user's last use is recorded; the other one's is not.
    let listed = stdout(&s.server.env.cli(&["apikey", "list"], None));
    let line = |name: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {listed}"))
            .to_owned()
    };
    assert!(!line("shop-api").ends_with("never"), "{listed}");
    assert!(line("other-api").ends_with("never"), "{listed}");
    // The upper-case hex of the same signature works too.
    let ts = now().to_string();
    let sig = sign(&ts, &s.secret).to_ascii_uppercase();
    let reply = s.get(
        &format!("ShipmentID=S1&Postcode=7418EV&ts={ts}&sig={sig}"),
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

on_both_backends!(json_is_sent_on_request, super::json_is_sent_on_request);
async fn json_is_sent_on_request(backend: Backend) {
    let s = scenario(backend, &[]).await;
    let reply = s.get(
        &Scenario::query("S1", "7418EV", now(), &s.secret),
        Some("application/json"),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(json["shipmentID"], "S1");
    assert_eq!(json["deliveryType"], "express");
    assert_eq!(json["pickupName"], "Warehouse A");
    assert_eq!(json["deliveryName"], "Jansen & Zn <BV>");
    assert_eq!(json["deliveryPostcode"], "7418 EV");
    assert_eq!(json["goods"][0]["quantity"], 10);
    assert_eq!(json["goods"][1]["packing"], "pallet");
    let history = json["statusHistory"].as_array().expect("history");
    let statuses: Vec<&str> = history
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(statuses, ["loaded", "delivered"]);
    assert_eq!(history[1]["signee"], "J. Jansen");
    assert_eq!(history[1]["at"], "2025-06-02T14:20:00");
    assert!(!reply.body.contains("batchentry"));
}

on_both_backends!(
    postcode_and_parameter_names_in_any_case,
    super::postcode_and_parameter_names_in_any_case
);
async fn postcode_and_parameter_names_in_any_case(backend: Backend) {
    let s = scenario(backend, &[]).await;
    for postcode in ["7418%20ev", "7418ev", "%207418%20%20EV%20", "7418+Ev"] {
        let reply = s.get(&Scenario::query("S1", postcode, now(), &s.secret), None);
        assert_eq!(reply.status, 200, "{postcode}: {reply:?}");
    }
    let ts = now().to_string();
    let sig = sign(&ts, &s.secret);
    let reply = s.get(
        &format!("shipmentid=S1&POSTCODE=7418ev&TS={ts}&Sig={sig}"),
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
}

on_both_backends!(
    every_refusal_is_the_same_401,
    super::every_refusal_is_the_same_401
);
async fn every_refusal_is_the_same_401(backend: Backend) {
    // Enough tries that this test's own failures don't block its address.
    let s = scenario(backend, &["--login-max-failures", "100"]).await;
    let ts = now();
    let good_sig = sign(&ts.to_string(), &s.secret);
    let cases = [
        (
            "wrong signature",
            format!(
                "ShipmentID=S1&Postcode=7418EV&ts={ts}&sig={}",
                sign(&ts.to_string(), "guess")
            ),
        ),
        (
            "signature of another ts",
            format!("ShipmentID=S1&Postcode=7418EV&ts={}&sig={good_sig}", ts + 1),
        ),
        (
            "not a signature",
            format!("ShipmentID=S1&Postcode=7418EV&ts={ts}&sig=xyz"),
        ),
        (
            "stale ts",
            Scenario::query("S1", "7418EV", ts - 600, &s.secret),
        ),
        (
            "ts just past the window",
            Scenario::query("S1", "7418EV", ts - 320, &s.secret),
        ),
        (
            "ts in the future beyond 5 minutes",
            Scenario::query("S1", "7418EV", ts + 600, &s.secret),
        ),
        (
            "ts that is not seconds",
            format!(
                "ShipmentID=S1&Postcode=7418EV&ts={ts}.0&sig={}",
                sign(&format!("{ts}.0"), &s.secret)
            ),
        ),
        (
            "shipment of another customer",
            Scenario::query("S1", "7418EV", ts, &s.other_secret),
        ),
        (
            "own key, other customer's shipment",
            Scenario::query("T1", "7418EV", ts, &s.secret),
        ),
        (
            "unknown shipment",
            Scenario::query("S404", "7418EV", ts, &s.secret),
        ),
        (
            "wrong postcode",
            Scenario::query("S1", "7418EW", ts, &s.secret),
        ),
        (
            "pickup postcode",
            Scenario::query("S1", "1000AA", ts, &s.secret),
        ),
    ];
    let mut bodies = Vec::new();
    for (what, query) in &cases {
        let reply = s.get(query, None);
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        assert_eq!(
            reply.content_type, "application/xml; charset=utf-8",
            "{what}"
        );
        bodies.push((what, reply.body));
    }
    let first = &bodies[0].1;
    assert!(first.contains("<error>not authorized</error>"), "{first}");
    for (what, body) in &bodies {
        assert_eq!(body, first, "the body for {what} differs");
    }
    // The other customer's key is good for its own shipment.
    let reply = s.get(
        &Scenario::query("T1", "7418EV", now(), &s.other_secret),
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    // A disabled API user is refused like any wrong signature, and works again once enabled.
    let out = s.server.env.cli(&["apikey", "disable", "shop-api"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(&reply.body, first);
    let out = s.server.env.cli(&["apikey", "enable", "shop-api"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    // A removed one for good.
    let out = s.server.env.cli(&["apikey", "remove", "other-api"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply = s.get(
        &Scenario::query("T1", "7418EV", now(), &s.other_secret),
        None,
    );
    assert_eq!(reply.status, 401, "{reply:?}");
    // The log says why; the client never did.
    let log = s.server.log();
    assert!(log.contains("track & trace refused"), "{log}");
    assert!(!log.contains(&s.secret), "the secret is in the log");
}

on_both_backends!(
    a_missing_parameter_is_a_400,
    super::a_missing_parameter_is_a_400
);
async fn a_missing_parameter_is_a_400(backend: Backend) {
    let s = scenario(backend, &[]).await;
    let ts = now();
    let sig = sign(&ts.to_string(), &s.secret);
    for (query, missing) in [
        (format!("Postcode=7418EV&ts={ts}&sig={sig}"), "ShipmentID"),
        (format!("ShipmentID=S1&ts={ts}&sig={sig}"), "Postcode"),
        (format!("ShipmentID=S1&Postcode=7418EV&sig={sig}"), "ts"),
        (format!("ShipmentID=S1&Postcode=7418EV&ts={ts}"), "sig"),
        (
            format!("ShipmentID=S1&Postcode=&ts={ts}&sig={sig}"),
            "Postcode",
        ),
    ] {
        let reply = s.get(&query, None);
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(
            reply
                .body
                .contains(&format!("<error>missing parameter {missing}</error>")),
            "{query}: {}",
            reply.body
        );
    }
    let reply = s.get("ShipmentID=S1", Some("application/json"));
    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body, r#"{"error":"missing parameter Postcode"}"#);
}

on_both_backends!(
    repeated_bad_signatures_block_the_address,
    super::repeated_bad_signatures_block_the_address
);
async fn repeated_bad_signatures_block_the_address(backend: Backend) {
    let s = scenario(backend, &["--login-max-failures", "3"]).await;
    // Unknown shipments with a good signature don't count: the caller is a known API user.
    for _ in 0..4 {
        let reply = s.get(&Scenario::query("S404", "7418EV", now(), &s.secret), None);
        assert_eq!(reply.status, 401);
    }
    for _ in 0..3 {
        let reply = s.get(&Scenario::query("S1", "7418EV", now(), "guess"), None);
        assert_eq!(reply.status, 401);
    }
    // Blocked now, even with a good signature.
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 429, "{reply:?}");
    assert!(
        reply.body.contains("<error>too many failed requests"),
        "{}",
        reply.body
    );
    // /metrics counts them by result.
    let env = &s.server.env;
    let out = env.cli(
        &["admin", "add", "watcher", "--password-stdin"],
        Some("admin password 1\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.cli(&["admin", "token", "watcher", "--metrics-only"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let bearer = format!("Authorization: Bearer {}", stdout(&out).trim());
    let url = format!("http://{}/metrics", s.server.addr("http"));
    let out = Command::new("curl")
        .args(["-s", "--fail", "-H", &bearer, &url])
        .output()
        .expect("run curl");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "freightdrop_tracking_requests_total{result=\"refused\"} 7",
        "freightdrop_tracking_requests_total{result=\"blocked\"} 1",
        "freightdrop_tracking_requests_total{result=\"answered\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

on_both_backends!(
    guesses_with_a_good_signature_block_that_api_user,
    super::guesses_with_a_good_signature_block_that_api_user
);
async fn guesses_with_a_good_signature_block_that_api_user(backend: Backend) {
    let s = scenario(
        backend,
        &["--tracking-max-misses", "5", "--login-block", "3"],
    )
    .await;
    // A legitimate lookup before the limit is answered.
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    // Unknown shipments and wrong postcodes, each well signed, count as misses; an answered
    // request in between does not wipe them.
    for (shipment, postcode) in [
        ("S404", "7418EV"),
        ("S405", "7418EV"),
        ("S1", "1000AA"),
        ("S406", "7418EV"),
    ] {
        let reply = s.get(&Scenario::query(shipment, postcode, now(), &s.secret), None);
        assert_eq!(reply.status, 401, "{shipment} {postcode}: {reply:?}");
    }
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = s.get(&Scenario::query("S1", "9999ZZ", now(), &s.secret), None);
    assert_eq!(reply.status, 401, "{reply:?}");
    // The fifth miss blocked this API user: every further guess, and even a good lookup, gets
    // 429 with Retry-After, so a captured signature can't be used to guess IDs.
    for guess in 0..20 {
        let reply = s.get(
            &Scenario::query(&format!("G{guess}"), "7418EV", now(), &s.secret),
            None,
        );
        assert_eq!(reply.status, 429, "guess {guess}: {reply:?}");
    }
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 429, "{reply:?}");
    assert!(
        reply
            .body
            .contains("too many requests for unknown shipments"),
        "{}",
        reply.body
    );
    // Another API user from the same address is not blocked.
    let reply = s.get(
        &Scenario::query("T1", "7418EV", now(), &s.other_secret),
        None,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    // After the block time the API user is answered again.
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    let reply = s.get(&Scenario::query("S1", "7418EV", now(), &s.secret), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        s.server
            .log()
            .contains("API user blocked after repeated track & trace requests"),
        "{}",
        s.server.log()
    );
}

on_both_backends!(
    apikey_add_prints_the_secret_once,
    super::apikey_add_prints_the_secret_once
);
async fn apikey_add_prints_the_secret_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let out = env.cli(&["apikey", "add", "shop-api", "--customer", "1234"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let secret = secret_of(&text);
    assert_eq!(secret.len(), 64, "{text}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
    assert_eq!(text.matches(&secret).count(), 1, "{text}");
    assert!(text.contains("shown only once"), "{text}");
    assert!(!stderr(&out).contains(&secret));

    // The key file was made in the data dir, private.
    use std::os::unix::fs::PermissionsExt as _;
    let key_file = env.data_dir().join("secrets.key");
    let meta = std::fs::metadata(&key_file).expect("secrets.key made");
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Neither list shows it, nor does the database.
    for args in [&["apikey", "list"][..], &["apikey", "list", "--json"][..]] {
        let out = env.cli(args, None);
        assert!(out.status.success(), "{}", stderr(&out));
        let listed = stdout(&out);
        assert!(
            listed.contains("shop-api") && listed.contains("1234"),
            "{listed}"
        );
        assert!(!listed.contains(&secret), "{listed}");
        assert!(!listed.contains(&secret[..16]), "{listed}");
    }
    let store = env.store().await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT secret_sealed FROM api_keys")
        .fetch_all(store.db().pool())
        .await
        .expect("read api_keys");
    store.db().close().await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].0.contains(&secret));

    // Bad calls exit 2; a taken name or an unknown user exits 1.
    let out = env.cli(&["apikey", "add", "x", "--customer", "bad customer!"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid customer code"),
        "{}",
        stderr(&out)
    );
    let out = env.cli(&["apikey", "add", "../x", "--customer", "1234"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.cli(&["apikey", "add", "shop-api", "--customer", "1234"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = env.cli(&["apikey", "remove", "nobody"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = env.cli(&["apikey", "remove", "shop-api"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&env.cli(&["apikey", "list"], None));
    assert!(!listed.contains("shop-api"), "{listed}");
}

#[tokio::test]
async fn a_secrets_key_file_of_the_wrong_size_is_refused_by_name() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let key_file = env.dir.path().join("short.key");
    std::fs::write(&key_file, b"too short").expect("write key file");
    let key_arg = key_file.to_str().expect("utf-8 path");
    let out = env.cli(
        &[
            "apikey",
            "add",
            "shop-api",
            "--customer",
            "1234",
            "--secrets-key-file",
            key_arg,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("short.key"), "{}", stderr(&out));
    assert!(stderr(&out).contains("32"), "{}", stderr(&out));
    // A configured file that does not exist is not made.
    let missing = env.dir.path().join("missing.key");
    let out = env.cli(
        &[
            "apikey",
            "add",
            "shop-api",
            "--customer",
            "1234",
            "--secrets-key-file",
            missing.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.key"), "{}", stderr(&out));
    assert!(!missing.exists());
    // The server does not start with it either.
    let out = env.cli(
        &[
            "serve",
            "--ftp-addr",
            "127.0.0.1:0",
            "--sftp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--secrets-key-file",
            key_arg,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("short.key"), "{}", stderr(&out));
}
