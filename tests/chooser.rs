//! Workspace chooser v2: search, filter, sort, pins, favourites, pagination, activity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

const CHOOSER: &str = "query($search: String, $env: Environment, $order: WorkspaceOrder, $pinned: Boolean, $first: Int, $after: String) {
  workspaces(search: $search, environment: $env, orderBy: $order, pinnedFirst: $pinned, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { slug isPinned isFavorite environment lastActivityAt } }
  }
}";

fn slugs(data: &Value) -> Vec<String> {
    data["workspaces"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap().to_string())
        .collect()
}

async fn setup() -> (TestApp, String, Vec<String>) {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for (name, slug, env) in [
        ("Contoso Production", "contoso-prod", "PRODUCTION"),
        ("contoso staging", "contoso-stage", "STAGING"),
        ("Fabrikam", "fabrikam", "PRODUCTION"),
        ("Adatum Dev", "adatum-dev", "DEVELOPMENT"),
        ("Woodgrove 100%_Test", "woodgrove", "TEST"),
    ] {
        let id = app.create_workspace(&admin, name, slug, env).await;
        app.grant(&admin, &id, "ann@msp.test", "READONLY").await;
        ids.push(id);
    }
    (app, "ann@msp.test".to_string(), ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_case_insensitive_over_name_and_slug_and_treats_wildcards_literally() {
    let (app, ann, _) = setup().await;
    let token = app.token(&ann);
    let data = app
        .gql_ok(&token, CHOOSER, json!({"search": "CONTOSO"}))
        .await;
    assert_eq!(slugs(&data), vec!["contoso-prod", "contoso-stage"]);
    let data = app
        .gql_ok(&token, CHOOSER, json!({"search": "adatum-d"}))
        .await;
    assert_eq!(slugs(&data), vec!["adatum-dev"]);
    let data = app.gql_ok(&token, CHOOSER, json!({"search": "%_"})).await;
    assert_eq!(slugs(&data), vec!["woodgrove"]);
    let data = app.gql_ok(&token, CHOOSER, json!({"search": "_"})).await;
    assert_eq!(
        slugs(&data),
        vec!["woodgrove"],
        "'_' must not match any character"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_filter_and_sorting_work_in_both_directions() {
    let (app, ann, _) = setup().await;
    let token = app.token(&ann);
    let data = app
        .gql_ok(&token, CHOOSER, json!({"env": "PRODUCTION"}))
        .await;
    assert_eq!(slugs(&data), vec!["contoso-prod", "fabrikam"]);
    assert_eq!(data["workspaces"]["totalCount"], 2);

    let data = app
        .gql_ok(
            &token,
            CHOOSER,
            json!({"order": {"field": "NAME", "direction": "DESC"}}),
        )
        .await;
    assert_eq!(
        slugs(&data),
        vec![
            "woodgrove",
            "fabrikam",
            "contoso-stage",
            "contoso-prod",
            "adatum-dev"
        ]
    );
    let data = app
        .gql_ok(&token, CHOOSER, json!({"order": {"field": "CREATED_AT"}}))
        .await;
    assert_eq!(
        slugs(&data),
        vec![
            "contoso-prod",
            "contoso-stage",
            "fabrikam",
            "adatum-dev",
            "woodgrove"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_activity_moves_with_every_write_and_sorts_the_chooser() {
    let (app, ann, ids) = setup().await;
    let admin = app.admin_token().await;
    let token = app.token(&ann);
    // Fabrikam (index 2) gets a new tenant: it becomes the most recently active.
    let before = app
        .gql_ok(&token, CHOOSER, json!({"search": "fabrikam"}))
        .await;
    app.create_tenant(&admin, &ids[2], "Fabrikam HQ", &guid())
        .await;
    let after = app
        .gql_ok(&token, CHOOSER, json!({"search": "fabrikam"}))
        .await;
    let t0 = before["workspaces"]["edges"][0]["node"]["lastActivityAt"]
        .as_str()
        .unwrap()
        .to_string();
    let t1 = after["workspaces"]["edges"][0]["node"]["lastActivityAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&t1).unwrap()
            > chrono::DateTime::parse_from_rfc3339(&t0).unwrap()
    );
    assert!(t1.ends_with('Z'), "times are RFC 3339 UTC: {t1}");

    let data = app
        .gql_ok(
            &token,
            CHOOSER,
            json!({"order": {"field": "LAST_ACTIVITY", "direction": "DESC"}}),
        )
        .await;
    assert_eq!(slugs(&data)[0], "fabrikam");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_and_favorites_are_per_user_and_pinned_first_puts_them_on_top() {
    let (app, ann, ids) = setup().await;
    let admin = app.admin_token().await;
    app.grant(&admin, &ids[4], "bob@msp.test", "READONLY").await;
    let token = app.token(&ann);
    let pin = "mutation($i: PinWorkspaceInput!) { pinWorkspace(input: $i) { workspace { slug isPinned } } }";
    let fav = "mutation($i: FavoriteWorkspaceInput!) { favoriteWorkspace(input: $i) { workspace { isFavorite } } }";

    let data = app
        .gql_ok(&token, pin, json!({"i": {"workspaceId": ids[4]}}))
        .await;
    assert_eq!(
        data["pinWorkspace"]["workspace"],
        json!({"slug": "woodgrove", "isPinned": true})
    );
    // Pinning twice is harmless.
    app.gql_ok(&token, pin, json!({"i": {"workspaceId": ids[4]}}))
        .await;
    app.gql_ok(&token, pin, json!({"i": {"workspaceId": ids[3]}}))
        .await;
    let data = app
        .gql_ok(&token, fav, json!({"i": {"workspaceId": ids[2]}}))
        .await;
    assert_eq!(data["favoriteWorkspace"]["workspace"]["isFavorite"], true);

    let data = app.gql_ok(&token, CHOOSER, json!({"pinned": true})).await;
    assert_eq!(
        slugs(&data),
        vec![
            "adatum-dev",
            "woodgrove",
            "contoso-prod",
            "contoso-stage",
            "fabrikam"
        ]
    );
    let edges = data["workspaces"]["edges"].as_array().unwrap();
    assert_eq!(
        edges
            .iter()
            .filter(|e| e["node"]["isPinned"] == true)
            .count(),
        2
    );
    assert_eq!(
        edges
            .iter()
            .filter(|e| e["node"]["isFavorite"] == true)
            .count(),
        1
    );

    // Bob sees none of Ann's pins.
    let bob = app
        .gql_ok(&app.token("bob@msp.test"), CHOOSER, json!({"pinned": true}))
        .await;
    assert_eq!(bob["workspaces"]["edges"][0]["node"]["isPinned"], false);

    let unpin = "mutation($i: UnpinWorkspaceInput!) { unpinWorkspace(input: $i) { workspace { isPinned } } }";
    let data = app
        .gql_ok(&token, unpin, json!({"i": {"workspaceId": ids[3]}}))
        .await;
    assert_eq!(data["unpinWorkspace"]["workspace"]["isPinned"], false);
    let unfav = "mutation($i: UnfavoriteWorkspaceInput!) { unfavoriteWorkspace(input: $i) { workspace { isFavorite } } }";
    let data = app
        .gql_ok(&token, unfav, json!({"i": {"workspaceId": ids[2]}}))
        .await;
    assert_eq!(
        data["unfavoriteWorkspace"]["workspace"]["isFavorite"],
        false
    );
    let data = app.gql_ok(&token, CHOOSER, json!({"pinned": true})).await;
    assert_eq!(slugs(&data)[0], "woodgrove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_the_whole_list_without_gaps_or_repeats() {
    let (app, ann, _) = setup().await;
    let token = app.token(&ann);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .gql_ok(&token, CHOOSER, json!({"first": 2, "after": after}))
            .await;
        assert_eq!(data["workspaces"]["totalCount"], 5);
        seen.extend(slugs(&data));
        let info = &data["workspaces"]["pageInfo"];
        if info["hasNextPage"] == false {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_string());
        assert!(seen.len() <= 5, "pagination does not terminate");
    }
    assert_eq!(
        seen,
        vec![
            "adatum-dev",
            "contoso-prod",
            "contoso-stage",
            "fabrikam",
            "woodgrove"
        ]
    );
    let data = app
        .gql_ok(
            &token,
            "{ workspaces(last: 2) { pageInfo { hasPreviousPage } edges { node { slug } } } }",
            json!({}),
        )
        .await;
    assert_eq!(slugs(&data), vec!["fabrikam", "woodgrove"]);
    assert_eq!(data["workspaces"]["pageInfo"]["hasPreviousPage"], true);
}
