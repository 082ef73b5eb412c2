//! Search as an operator uses it: a word, the start of a word, Cyrillic and Japanese text, in
//! messages, conversations and contacts; results ranked newest first, highlighted, paged; hidden
//! where the caller may not look; and gone — with every trace in the database — when the person
//! is erased.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::privacy::{everything, holds, request};

backend_tests!(search_finds_words_prefixes_and_other_scripts, an_erased_contact_leaves_nothing_in_the_index, a_word_from_a_year_ago_is_found_among_seeded_history,);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// The texts of a message search's results.
fn texts(results: &Value) -> Vec<String> {
    data(results).iter().map(|r| r["message"]["text"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Searches until the answer has `count` results (the index follows new messages within
/// moments); returns it.
async fn search_until(app: &TestApp, key: &str, query: &str, count: usize) -> Value {
    let path = format!("/v1/search?{query}");
    app.wait_for(key, &path, |r| data(r).len() == count).await
}

async fn search(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/search?{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

async fn search_finds_words_prefixes_and_other_scripts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let agent = app.create_key(&tenant, "agent");
    let channel = app.webchat_channel(&admin).await;
    let mut contacts = std::collections::HashMap::new();
    for (name, text) in [
        ("Ana Lima", "My invoice for the walnut table is wrong"),
        ("Борис", "Счёт за доставку не пришёл"),
        ("Yuki", "東京の倉庫から発送されましたか"),
        ("Olu", "Where is my parcel?"),
    ] {
        let (token, _) = app.visitor(&channel, json!({"name": name})).await;
        let (status, body) = app.visitor_says(&token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let conversation = body["conversation_id"].as_str().expect("conversation").to_owned();
        let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
        contacts.insert(name, (shown["contact_id"].as_str().expect("contact").to_owned(), conversation));
    }

    // A word, and the start of a word, in any case.
    let found = search_until(&app, &admin, "q=walnut", 1).await;
    assert_eq!(texts(&found), ["My invoice for the walnut table is wrong"]);
    let marked: Vec<&str> = found["data"][0]["highlight"].as_array().expect("highlight").iter().filter(|f| f["match"] == true).filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(marked, ["walnut"]);
    assert_eq!(texts(&search(&app, &admin, "q=INVO").await), ["My invoice for the walnut table is wrong"]);
    assert_eq!(texts(&search(&app, &admin, "q=walnut%20wrong").await).len(), 1, "every word must match");
    assert!(texts(&search(&app, &admin, "q=walnut%20parcel").await).is_empty());
    assert!(texts(&search(&app, &admin, "q=invoices").await).is_empty(), "a longer word is not a prefix of a shorter one");
    // Cyrillic, with ё folded, and by prefix.
    let cyrillic = search_until(&app, &admin, "q=%D1%81%D1%87%D0%B5%D1%82", 1).await; // "счет"
    assert_eq!(texts(&cyrillic), ["Счёт за доставку не пришёл"]);
    assert_eq!(texts(&search(&app, &admin, "q=%D0%B4%D0%BE%D1%81%D1%82%D0%B0%D0%B2").await).len(), 1, "доставк… by prefix");
    // Japanese, a word inside a sentence without spaces.
    let japanese = search_until(&app, &admin, "q=%E5%80%89%E5%BA%AB", 1).await; // "倉庫"
    assert_eq!(texts(&japanese), ["東京の倉庫から発送されましたか"]);
    assert!(japanese["data"][0]["highlight"].as_array().expect("highlight").iter().any(|f| f["match"] == true && f["text"] == "倉庫"));
    assert!(texts(&search(&app, &admin, "q=%E5%A4%A7%E9%98%AA").await).is_empty(), "大阪 is not there");

    // Operators' replies are found too, newest first.
    let (_, ana_conversation) = &contacts["Ana Lima"];
    let (status, reply) = app.post(&format!("/v1/conversations/{ana_conversation}/messages"), &admin, json!({"text": "We refund the walnut table today."})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let both = search_until(&app, &admin, "q=walnut", 2).await;
    assert_eq!(texts(&both), ["We refund the walnut table today.", "My invoice for the walnut table is wrong"]);

    // Conversations and contacts.
    let conversations = search_until(&app, &admin, "q=walnut&type=conversations", 1).await;
    assert_eq!(data(&conversations)[0]["conversation"]["id"], ana_conversation.as_str());
    assert_eq!(data(&conversations)[0]["type"], "conversation");
    let people = search_until(&app, &admin, "q=lima&type=contacts", 1).await;
    assert_eq!(data(&people)[0]["contact"]["name"], "Ana Lima");
    let boris = search_until(&app, &admin, "q=%D0%B1%D0%BE%D1%80&type=contacts", 1).await; // "бор"
    assert_eq!(data(&boris)[0]["contact"]["name"], "Борис");

    // Filters combine with the words.
    let (olu_contact, _) = &contacts["Olu"];
    assert!(data(&search(&app, &admin, &format!("q=walnut&contact_id={olu_contact}")).await).is_empty());
    assert_eq!(data(&search(&app, &admin, "q=walnut&status=open").await).len(), 2);
    assert!(data(&search(&app, &admin, "q=walnut&status=resolved").await).is_empty());
    assert!(data(&search(&app, &admin, "q=walnut&since=2999-01-01").await).is_empty());

    // Pages: newest first, each result once.
    let (token, _) = app.visitor(&channel, json!({"name": "Pia"})).await;
    for n in 1..=3 {
        app.visitor_says(&token, json!({"text": format!("pelican number {n}")})).await;
    }
    search_until(&app, &admin, "q=pelican", 3).await;
    let first = search(&app, &admin, "q=pelican&limit=2").await;
    assert_eq!(texts(&first), ["pelican number 3", "pelican number 2"]);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = search(&app, &admin, &format!("q=pelican&limit=2&cursor={cursor}")).await;
    assert_eq!(texts(&second), ["pelican number 1"]);
    assert!(second["next_cursor"].is_null());

    // Restricted contacts stay hidden from agents; other tenants find nothing.
    let (ana_contact, _) = &contacts["Ana Lima"];
    let done = request(&app, &admin, json!({"type": "restriction", "contact_id": ana_contact})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(data(&search(&app, &agent, "q=walnut").await).is_empty(), "an agent does not see a restricted contact");
    assert_eq!(data(&search(&app, &admin, "q=walnut").await).len(), 2, "an admin does");
    let (_, stranger) = app.create_tenant("Other shop");
    assert!(data(&search(&app, &stranger, "q=walnut").await).is_empty());

    // Clear refusals, naming the parameter.
    for (query, field) in [("", "q"), ("q=a", "q"), ("q=walnut&type=files", "type"), ("q=walnut&cursor=x", "cursor"), ("q=walnut&since=yesterday", "since"), ("q=walnut&limit=0", "limit")] {
        let (status, problem) = app.get(&format!("/v1/search?{query}"), &admin).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {problem}");
        assert!(problem.to_string().contains(field), "{query}: {problem}");
    }
}

async fn an_erased_contact_leaves_nothing_in_the_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (_, said) = app.visitor_wrote(&channel, "Wilhelmina Quokka", "The zanzibar parcel never came").await;
    let conversation = said["conversation_id"].as_str().expect("conversation");
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    let contact_id = shown["contact_id"].as_str().expect("contact").to_owned();
    let (other, _) = app.visitor(&channel, json!({"name": "Otto"})).await;
    app.visitor_says(&other, json!({"text": "My parcel came, thanks"})).await;
    search_until(&app, &admin, "q=zanzibar", 1).await;
    search_until(&app, &admin, "q=quokka&type=contacts", 1).await;

    // The index entries that would give the erased person away, as the database stores them.
    let master = omnibridge::privacy::parse_master_key(app.config.master_key.as_deref().expect("master key")).expect("key");
    let keyring = omnibridge::privacy::Keyring::new(master);
    let hasher = keyring.search_hasher(tenant.parse().expect("tenant id"));
    let own_terms = ["zan", "zanz", "zanzi", "zanzib", "zanziba", "quo", "quok", "quokk", "quokka", "wil", "wilhelmi", "nev", "never"];
    let hashes: Vec<i64> = own_terms.iter().flat_map(|t| [hasher.term(t), hasher.contact_term(t)]).collect();
    let stored = |dump: &[u8], hash: i64| match backend {
        Backend::Sqlite => holds(dump, Backend::Sqlite, &hash.to_be_bytes()),
        Backend::Postgres => dump.windows(hash.to_string().len()).any(|w| w == hash.to_string().as_bytes()),
    };
    let dump = everything(&app).await;
    assert!(hashes.iter().filter(|h| stored(&dump, **h)).count() >= 10, "the index holds the person's terms before");

    let done = request(&app, &admin, json!({"type": "erasure", "contact_id": contact_id})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(data(&search(&app, &admin, "q=zanzibar").await).is_empty());
    assert!(data(&search(&app, &admin, "q=quokka&type=contacts").await).is_empty());
    assert_eq!(data(&search(&app, &admin, "q=parcel").await).len(), 1, "other people's messages are still found");
    // Once the index has followed the log past the erasure (it must not bring anything back),
    // look at the files.
    app.wait_for(&admin, "/readyz", |r| {
        r["event_log"]["consumers"].as_array().is_some_and(|c| c.iter().any(|c| c["name"] == "search" && c["lag"] == 0))
    })
    .await;
    let dump = everything(&app).await;
    for (term, hash) in own_terms.iter().zip(&hashes) {
        assert!(!stored(&dump, *hash), "the index still holds the erased person's term {term:?}");
    }
    for plain in ["zanzibar", "Quokka", "Wilhelmina"] {
        assert!(!holds(&dump, Backend::Sqlite, plain.as_bytes()), "{plain} is still stored");
    }
}

async fn a_word_from_a_year_ago_is_found_among_seeded_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (tenant, admin) = app.create_tenant("Shop");
    let out = app.cli(&["seed", "--tenant", &tenant, "--messages", "600", "--conversations", "120", "--contacts", "40", "--days", "730", "--seed", "7"]);
    assert!(out.status.success(), "seed failed: {}", String::from_utf8_lossy(&out.stderr));
    let seeded: Value = serde_json::from_slice(&out.stdout).expect("the seeder prints JSON");
    assert_eq!(seeded["messages"], 600);
    assert!(seeded["index_entries"].as_i64().is_some_and(|n| n > 600), "{seeded}");
    let probes = seeded["probes"].as_array().expect("probes");
    let old = probes.iter().find(|p| p["days_ago"].as_u64().is_some_and(|d| (365..700).contains(&d))).expect("a probe from a year ago or more");
    let order = old["query"].as_str().expect("query");

    // The order number as typed, and by its digits alone.
    let found = search(&app, &admin, &format!("q={order}")).await;
    let ids: Vec<Value> = data(&found).iter().map(|r| r["message"]["id"].clone()).collect();
    assert!(ids.contains(&old["message_id"]), "{order} from {} days ago: {found}", old["days_ago"]);
    let digits = &order[2..];
    let by_digits = search(&app, &admin, &format!("q={digits}&type=conversations")).await;
    assert_eq!(data(&by_digits)[0]["conversation"]["id"], old["conversation_id"], "{by_digits}");
    // Narrowed to the year it was written in, it is still there; to the last month, it is not.
    let year_ago = time::OffsetDateTime::now_utc() - time::Duration::days(old["days_ago"].as_i64().expect("days") + 2);
    let since = format!("{}-{:02}-{:02}", year_ago.year(), year_ago.month() as u8, year_ago.day());
    assert!(!data(&search(&app, &admin, &format!("q={digits}&since={since}")).await).is_empty());
    let last_month = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    let recent = format!("{}-{:02}-{:02}", last_month.year(), last_month.month() as u8, last_month.day());
    assert!(data(&search(&app, &admin, &format!("q={digits}&since={recent}")).await).is_empty());
    // Seeded history is in six languages: the Cyrillic and Japanese words of its phrases are
    // found among it.
    assert!(!data(&search(&app, &admin, "q=%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7").await).is_empty(), "заказ");
    assert!(!data(&search(&app, &admin, "q=%E6%B3%A8%E6%96%87").await).is_empty(), "注文");
}
