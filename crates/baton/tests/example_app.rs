//! The student-full-info example (examples/student-full-info) as a newcomer would try it:
//! its configuration loaded as is, its functions built from the workspace, every part
//! exercised over HTTP: the collections behind the security rules, the address service,
//! the composite service in both styles, and the onboarding started by a notification.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{start_example, temp_dir, Baton};

const ADMIN: (&str, &str) = ("x-api-key", "admin-demo-key");

async fn call(
    b: &Baton,
    method: &str,
    path: &str,
    body: Option<Value>,
    admin: bool,
) -> (u16, Value) {
    let mut req = b.client.request(method.parse().unwrap(), format!("http://{}{path}", b.addr));
    if admin {
        req = req.header(ADMIN.0, ADMIN.1);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_application_works_end_to_end() {
    let data = temp_dir("example");
    let b = start_example(&data);

    // Courses: admins write, anyone reads.
    let course = json!({"id": "COMS4153", "title": "Cloud Computing", "credits": 3});
    assert_eq!(call(&b, "POST", "/api/courses", Some(course.clone()), false).await.0, 401);
    assert_eq!(call(&b, "POST", "/api/courses", Some(course), true).await.0, 201);
    let (status, list) = call(&b, "GET", "/api/courses", None, false).await;
    assert_eq!((status, &list["items"][0]["title"]), (200, &json!("Cloud Computing")));

    // Addresses: two spellings, one verified record at its delivery point.
    let (status, first) =
        call(&b, "POST", "/api/addresses", Some(json!({"line": "520 w 120th st NYC"})), true).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["id"], "10027-6902-20");
    let other = json!({"street": "520 West 120 St", "city": "New York", "state": "NY"});
    let (status, second) = call(&b, "POST", "/api/addresses", Some(other), true).await;
    assert_eq!((status, &second), (200, &first));
    let (status, read) = call(&b, "GET", "/api/addresses/10027-6902-20", None, true).await;
    assert_eq!((status, read["delivery_line_1"].as_str()), (200, Some("520 W 120th St")));
    let nowhere = json!({"line": "1 Nowhere Lane Springfield"});
    let (status, refused) = call(&b, "POST", "/api/addresses", Some(nowhere), true).await;
    assert_eq!((status, refused["code"].as_str()), (422, Some("address_not_verified")));

    // A student, checked by the schema; creating one starts the onboarding.
    let bad = json!({"id": "ab1234", "first_name": "Ada"});
    assert_eq!(call(&b, "POST", "/api/students", Some(bad), true).await.0, 422);
    let ada = json!({"id": "ab1234", "first_name": "Ada", "last_name": "Lovelace",
                     "email": "ada@example.edu", "address_id": "10027-6902-20"});
    assert_eq!(call(&b, "POST", "/api/students", Some(ada.clone()), true).await.0, 201);
    assert_eq!(call(&b, "GET", "/api/students/ab1234", None, false).await.0, 401);
    for (id, course) in [("e1", "COMS4153"), ("e2", "COMS4111")] {
        let e = json!({"id": id, "student_id": "ab1234", "course_id": course});
        assert_eq!(call(&b, "POST", "/api/enrollments", Some(e), true).await.0, 201);
    }

    // The composite service, in parallel and in sequence: the same answer.
    for route in ["full", "full-sequential"] {
        let (status, full) =
            call(&b, "GET", &format!("/api/students/ab1234/{route}"), None, true).await;
        assert_eq!(status, 200, "{route}: {full}");
        assert_eq!(full["student"], ada, "{route}");
        assert_eq!(full["enrollments"].as_array().map(Vec::len), Some(2), "{route}: {full}");
        assert_eq!(full["address"]["id"], "10027-6902-20", "{route}");
        let (status, missing) =
            call(&b, "GET", &format!("/api/students/zz9999/{route}"), None, true).await;
        assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")), "{route}");
    }

    // The onboarding workflow welcomes Ada in #new-students.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, chat) = call(&b, "GET", "/api/chat", None, true).await;
        assert_eq!(status, 200);
        let items = chat["items"].as_array().cloned().unwrap_or_default();
        if let Some(m) = items.iter().find(|m| m["student_id"] == "ab1234") {
            assert!(m["text"].as_str().unwrap().contains("Ada Lovelace"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "no welcome message: {chat}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
