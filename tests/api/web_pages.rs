//! The Codex screens, search, users and tokens, and time zones, driven as a browser
//! does (cookie session, forms with the CSRF token, redirects, flash, htmx fragments).

use crate::both;
use crate::web::Browser;
use hivematrix::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

/// `n` occurrences of `needle` in `hay`.
fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

both!(
    web_company_list_searches_filters_sorts_pages_and_counts,
    |app| {
        let admin = app.admin().await;
        for i in 0..30 {
            let (s, c) = app
                .post(
                    "/codex/api/companies",
                    &admin,
                    json!({"account_number": format!("7{:05}", i), "name": format!("Acme {i:02}"),
                       "psa_provider": if i % 3 == 0 { "freshservice" } else { "manual" },
                       "billing_plan": if i % 2 == 0 { "Gold" } else { "Silver" }}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{c}");
        }
        app.company(&admin, "799999", "Zeta <script>alert(1)</script>")
            .await;
        // Counts of the first row: 2 active users (1 inactive not counted), 3 assets,
        // 1 open ticket.
        for (n, active) in [(1, true), (2, true), (3, false)] {
            let (s, b) = app
            .post(
                "/codex/api/contacts",
                &admin,
                json!({"email": format!("u{n}@acme.example"), "company_account_numbers": ["700000"], "active": active}),
            )
            .await;
            assert!(s.is_success(), "{b}");
        }
        for n in 0..3 {
            let (s, b) = app
                .post(
                    "/codex/api/assets",
                    &admin,
                    json!({"company_account_number": "700000", "hostname": format!("WS-{n}")}),
                )
                .await;
            assert!(s.is_success(), "{b}");
        }
        let (s, b) = app
            .post(
                "/codex/api/tickets",
                &admin,
                json!({"subject": "Printer on fire", "company_account_number": "700000"}),
            )
            .await;
        assert!(s.is_success(), "{b}");

        let tech = app.caller(Role::Technician, None).await;
        let b = Browser::new(&app);
        b.login(&tech.email).await;
        let page = b.get("/codex/companies").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Showing 1–31 of 31"), "{}", page.body);
        assert!(page.body.contains("Add company"), "technicians may add");
        assert!(!page.body.contains("<script>alert(1)"), "names are escaped");
        assert!(page.body.contains("Zeta &lt;script&gt;"));
        let row = {
            let at = page.body.find("700000</td>").expect("first company row");
            &page.body[at..at + page.body[at..].find("</tr>").unwrap()]
        };
        assert!(
            row.contains(
                "<td class=\"num\">2</td><td class=\"num\">3</td><td class=\"num\">1</td>"
            ),
            "{row}"
        );
        // Search, filters and sort are the API's; paging is server-side.
        let s = b.get("/codex/companies?search=acme+1").await;
        assert!(s.body.contains("Showing 1–10 of 10"), "{}", s.body);
        let f = b
            .get("/codex/companies?billing_plan=Gold&psa_provider=freshservice&search=")
            .await;
        assert!(f.body.contains("Showing 1–5 of 5"), "{}", f.body);
        let sorted = b
            .get("/codex/companies?sort=name&order=desc&limit=25")
            .await;
        assert!(
            sorted.body.contains("Showing 1–25 of 31"),
            "{}",
            sorted.body
        );
        let zeta = sorted.body.find("Zeta").unwrap();
        let acme = sorted.body.find("Acme 29").unwrap();
        assert!(zeta < acme, "descending by name");
        assert!(sorted.body.contains("rel=\"next\""));
        let second = b
            .get("/codex/companies?sort=name&order=desc&limit=25&offset=25")
            .await;
        assert!(
            second.body.contains("Showing 26–31 of 31"),
            "{}",
            second.body
        );
        assert!(second.body.contains("Acme 00"));
        let bad = b.get("/codex/companies?sort=password").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

both!(
    web_company_add_edit_delete_with_errors_by_the_fields,
    |app| {
        let tech = app.caller(Role::Technician, None).await;
        let b = Browser::new(&app);
        let csrf = b.login(&tech.email).await;
        let form = b.get("/codex/companies/new").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("name=\"account_number\""));
        // Empty name and a bad account number: 422, both errors next to their fields, the
        // input kept, nothing created.
        let bad = b
            .post(
                "/codex/companies/new",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("account_number", "12 ab!"),
                    ("name", ""),
                    ("datto_portal_url", "ftp://x"),
                    ("description", "<b>kept</b>"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        for f in ["account_number", "name", "datto_portal_url"] {
            assert!(
                bad.body.contains(&format!("id=\"f-{f}-error\"")),
                "{f}: {}",
                bad.body
            );
        }
        assert!(bad.body.contains("3 fields need attention."));
        assert!(bad.body.contains("&lt;b&gt;kept&lt;/b&gt;"));
        let (_, list) = app.get("/codex/api/companies", &tech).await;
        assert_eq!(list.as_array().unwrap().len(), 0, "nothing was created");
        // Without the CSRF token: refused.
        let forged = b.post("/codex/companies/new", &[("name", "Forged")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Fixed: created, sent to its page with a flash.
        let ok = b
            .post(
                "/codex/companies/new",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("account_number", "654321"),
                    ("name", "Globex"),
                    ("domains", "globex.example\nglobex.test"),
                    ("contract_term_length", "1 Year"),
                    ("contract_start_date", "2026-01-01"),
                    ("compliance_level", "hipaa"),
                ],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        assert_eq!(ok.location(), "/codex/companies/654321");
        let page = b.get("/codex/companies/654321").await;
        assert!(page.body.contains("Company Globex created."));
        assert!(page.body.contains("2026-12-31"), "end date computed");
        assert!(page.body.contains("href=\"https://globex.test\""));
        // A taken account number is reported at its field.
        let dup = b
            .post(
                "/codex/companies/new",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("account_number", "654321"),
                    ("name", "Again"),
                ],
            )
            .await;
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(dup.body.contains("id=\"f-account_number-error\""));
        // Edit: a bad phone number changes nothing; a good edit saves.
        let edit = b.get("/codex/companies/654321/edit").await;
        assert!(edit.body.contains("value=\"Globex\""));
        let bad = b
            .post(
                "/codex/companies/654321/edit",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("name", "Globex Corp"),
                    ("company_main_number", "call me maybe"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("id=\"f-company_main_number-error\""));
        let (_, c) = app.get("/codex/api/companies/654321", &tech).await;
        assert_eq!(c["name"], "Globex");
        let saved = b
            .post(
                "/codex/companies/654321/edit",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("name", "Globex Corp"),
                    ("company_main_number", "+1 555 0100"),
                    ("description", ""),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let (_, c) = app.get("/codex/api/companies/654321", &tech).await;
        assert_eq!(c["name"], "Globex Corp");
        assert_eq!(
            c["compliance_level"], "hipaa",
            "fields not in the post stay"
        );
        assert_eq!(c["domain_list"], json!(["globex.example", "globex.test"]));
        // Delete (soft): gone from the list, its page says so.
        let del = b
            .post(
                "/codex/companies/654321/delete",
                &[("csrf_token", csrf.as_str())],
            )
            .await;
        assert_eq!(del.status, StatusCode::SEE_OTHER);
        assert_eq!(del.location(), "/codex/companies");
        let list = b.get("/codex/companies").await;
        assert!(list.body.contains("Company Globex Corp deleted."));
        assert!(list.body.contains("No companies match."));
        // Billing may read but not write.
        let billing = app.caller(Role::Billing, None).await;
        let bb = Browser::new(&app);
        let bcsrf = bb.login(&billing.email).await;
        assert!(!bb
            .get("/codex/companies")
            .await
            .body
            .contains("Add company"));
        let refused = bb
            .post(
                "/codex/companies/new",
                &[("csrf_token", bcsrf.as_str()), ("name", "Nope")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
);

both!(
    web_company_tabs_load_with_htmx_and_clients_see_their_own,
    |app| {
        let admin = app.admin().await;
        let own = app.company(&admin, "810001", "Own Co").await;
        app.company(&admin, "810002", "Other Co").await;
        let (s, b) = app
        .post(
            "/codex/api/contacts",
            &admin,
            json!({"email": "pat@own.example", "first_name": "Pat", "company_account_numbers": ["810001"]}),
        )
        .await;
        assert!(s.is_success(), "{b}");
        let (s, b) = app
            .post(
                "/codex/api/companies/810001/locations",
                &admin,
                json!({"name": "HQ", "address": "1 Main St"}),
            )
            .await;
        assert!(s.is_success(), "{b}");
        app.post(
            "/codex/api/tickets",
            &admin,
            json!({"subject": "VPN down", "company_account_number": "810001"}),
        )
        .await;
        app.post(
        "/codex/api/companies/810001/rmm-sites",
        &admin,
        json!({"rmm_provider": "datto", "rmm_site_uid": "site-own", "rmm_site_name": "Own site"}),
    )
    .await;
        let ba = Browser::new(&app);
        ba.login(&admin.email).await;
        let page = ba.get("/codex/companies/810001").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page
            .body
            .contains("hx-get=\"/codex/companies/810001/tabs/tickets\""));
        assert!(page.body.contains("pat@own.example"), "contacts tab first");
        for (tab, expect) in [
            ("locations", "1 Main St"),
            ("tickets", "VPN down"),
            ("sites", "site-own"),
            ("plan", "Support level"),
            ("audit", "create"),
            ("assets", "No assets."),
        ] {
            let f = ba.get(&format!("/codex/companies/810001/tabs/{tab}")).await;
            assert_eq!(f.status, StatusCode::OK, "{tab}");
            assert!(f.body.contains(expect), "{tab}: {}", f.body);
            assert!(!f.body.contains("<html"), "a fragment, not a page");
            assert!(f.body.contains(&format!(
                "href=\"/codex/companies/810001?tab={tab}\" hx-get"
            )));
            // The same tab by a direct link is the full page.
            let full = ba.get(&format!("/codex/companies/810001?tab={tab}")).await;
            assert!(full.body.contains(expect) && full.body.contains("class=\"sidebar\""));
        }
        assert_eq!(
            ba.get("/codex/companies/810001/tabs/nope").await.status,
            StatusCode::NOT_FOUND
        );
        // A client: only its own company, in the list, by link and in tabs; no plan or
        // history tab, no edit button.
        let client = app
            .caller(Role::Client, Some(own["id"].as_i64().unwrap()))
            .await;
        let bc = Browser::new(&app);
        bc.login(&client.email).await;
        let list = bc.get("/codex/companies").await;
        assert!(list.body.contains("Showing 1–1 of 1"), "{}", list.body);
        assert!(!list.body.contains("Other Co"));
        assert!(!list.body.contains("Add company"));
        assert_eq!(
            bc.get("/codex/companies/810002").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            bc.get("/codex/companies/810002/tabs/contacts").await.status,
            StatusCode::NOT_FOUND
        );
        let mine = bc.get("/codex/companies/810001").await;
        assert!(mine.body.contains("Own Co") && !mine.body.contains("/edit\""));
        assert!(!mine.body.contains("tabs/audit") && !mine.body.contains("tabs/plan"));
        assert_eq!(
            bc.get("/codex/companies/810001/tabs/audit").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            bc.get("/codex/companies/810001/edit").await.status,
            StatusCode::FORBIDDEN
        );
    }
);

both!(web_contacts_and_assets_pages, |app| {
    let admin = app.admin().await;
    app.company(&admin, "820001", "Initech").await;
    let tech = app.caller(Role::Technician, None).await;
    let b = Browser::new(&app);
    let csrf = b.login(&tech.email).await;
    // Contact: a bad e-mail is shown at its field; then created with its company.
    let bad = b
        .post(
            "/codex/contacts/new",
            &[
                ("csrf_token", csrf.as_str()),
                ("flags", "1"),
                ("email", "not-an-email"),
                ("company_account_numbers", "820001"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("id=\"f-email-error\""));
    let ok = b
        .post(
            "/codex/contacts/new",
            &[
                ("csrf_token", csrf.as_str()),
                ("flags", "1"),
                ("first_name", "Peter"),
                ("last_name", "Gibbons"),
                ("email", "peter@initech.example"),
                ("company_account_numbers", "820001"),
                ("active", "1"),
                ("vip_user", "1"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let contact_page = ok.location().to_string();
    let id: i64 = contact_page.rsplit('/').next().unwrap().parse().unwrap();
    let page = b.get(&contact_page).await;
    assert!(page.body.contains("Peter Gibbons") && page.body.contains("VIP"));
    assert!(page.body.contains("href=\"/codex/companies/820001\""));
    // Unticking a box on edit clears the flag.
    let edit = b
        .post(
            &format!("/codex/contacts/{id}/edit"),
            &[
                ("csrf_token", csrf.as_str()),
                ("flags", "1"),
                ("email", "peter@initech.example"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(edit.status, StatusCode::SEE_OTHER, "{}", edit.body);
    let (_, c) = app.get(&format!("/codex/api/contacts/{id}"), &tech).await;
    assert_eq!(c["vip_user"], false);
    assert_eq!(c["active"], true);
    let list = b.get("/codex/contacts?search=gibbons").await;
    assert!(list.body.contains("Showing 1–1 of 1"), "{}", list.body);
    // Asset: company must exist (error at the field); then the detail shows the RMM
    // fields and the UDFs with their labels.
    let bad = b
        .post(
            "/codex/assets/new",
            &[
                ("csrf_token", csrf.as_str()),
                ("company_account_number", "999999"),
                ("hostname", "WS-1"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("id=\"f-company_account_number-error\""));
    let (s, a) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"company_account_number": "820001", "hostname": "WS-PETER",
                   "int_ip_address": "10.0.0.7", "backup_usage_bytes": 1649267441664i64,
                   "portal_url": "https://rmm.example/device/1",
                   "udfs": {"udf2": "BITLOCKER-123", "udf15": "<i>custom</i>"}, "contact_ids": [id]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let aid = a["id"].as_i64().unwrap();
    let page = b.get(&format!("/codex/assets/{aid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for expect in [
        "BitLocker Key",
        "BITLOCKER-123",
        "UDF15",
        "&lt;i&gt;custom&lt;/i&gt;",
        "10.0.0.7",
        "1.50 TB",
        "href=\"https://rmm.example/device/1\"",
        "peter@initech.example",
    ] {
        assert!(page.body.contains(expect), "{expect}: {}", page.body);
    }
    assert!(
        page.body.contains("name=\"contact_ids\" value=\""),
        "assignment form"
    );
    // Unassign everyone, then assign Peter again (ticked boxes repeat the field).
    let none = b
        .post(
            &format!("/codex/assets/{aid}/contacts"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(none.status, StatusCode::SEE_OTHER);
    let (_, got) = app.get(&format!("/codex/api/assets/{aid}"), &tech).await;
    assert_eq!(got["contact_ids"], json!([]));
    let idv = id.to_string();
    let one = b
        .post(
            &format!("/codex/assets/{aid}/contacts"),
            &[("csrf_token", csrf.as_str()), ("contact_ids", idv.as_str())],
        )
        .await;
    assert_eq!(one.status, StatusCode::SEE_OTHER);
    let (_, got) = app.get(&format!("/codex/api/assets/{aid}"), &tech).await;
    assert_eq!(got["contact_ids"], json!([id]));
    let edit = b
        .post(
            &format!("/codex/assets/{aid}/edit"),
            &[
                ("csrf_token", csrf.as_str()),
                ("hostname", "WS-PETER2"),
                ("int_ip_address", "10.0.0.999"),
            ],
        )
        .await;
    assert_eq!(edit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(edit.body.contains("id=\"f-int_ip_address-error\""));
    let list = b.get("/codex/assets?search=10.0.0.7&online=0").await;
    assert!(list.body.contains("Showing 1–1 of 1"), "{}", list.body);
    let del = b
        .post(
            &format!("/codex/assets/{aid}/delete"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(del.status, StatusCode::SEE_OTHER);
    assert!(b
        .get("/codex/assets")
        .await
        .body
        .contains("No assets match."));
});

both!(web_global_search_finds_every_kind_within_the_scope, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "830001", "Hooli").await;
    app.company(&admin, "830002", "Hooli Rival").await;
    app.post(
        "/codex/api/contacts",
        &admin,
        json!({"email": "gavin@hooli.example", "first_name": "Gavin", "company_account_numbers": ["830001"]}),
    )
    .await;
    app.post(
        "/codex/api/assets",
        &admin,
        json!({"company_account_number": "830002", "hostname": "HOOLI-SRV"}),
    )
    .await;
    let (_, ticket) = app
        .post(
            "/codex/api/tickets",
            &admin,
            json!({"subject": "Hooli box broken", "company_account_number": "830001"}),
        )
        .await;
    let number = ticket["ticket_number"]
        .as_str()
        .or(ticket["external_id"].as_str())
        .expect("a ticket number")
        .to_string();
    let b = Browser::new(&app);
    b.login(&admin.email).await;
    let all = b.get("/search?q=hooli").await;
    assert_eq!(all.status, StatusCode::OK);
    for expect in [
        "Companies <span class=\"muted\">(2)</span>",
        "Contacts <span class=\"muted\">(1)</span>",
        "Assets <span class=\"muted\">(1)</span>",
        "Tickets <span class=\"muted\">(0)</span>",
        "HOOLI-SRV",
        "gavin@hooli.example",
    ] {
        assert!(all.body.contains(expect), "{expect}: {}", all.body);
    }
    // Tickets by their number, in any case, with or without '#'.
    for q in [number.clone(), format!("%23{}", number.to_lowercase())] {
        let t = b.get(&format!("/search?q={q}")).await;
        assert!(
            t.body.contains("Tickets <span class=\"muted\">(1)</span>")
                && t.body.contains("Hooli box broken"),
            "{q}: {}",
            t.body
        );
    }
    assert!(
        all.body
            .contains("id=\"global-search\" name=\"q\" value=\"hooli\""),
        "the box is in the layout, with the query"
    );
    // By account number; the htmx dropdown is a fragment.
    let acct = b.get("/search?q=830002").await;
    assert!(acct.body.contains("Hooli Rival"));
    let drop = b
        .client
        .get(format!("{}/search?q=gavin", b.base))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(drop.contains("gavin@hooli.example") && !drop.contains("<html"));
    // A client finds only its own company's records.
    let client = app
        .caller(Role::Client, Some(own["id"].as_i64().unwrap()))
        .await;
    let bc = Browser::new(&app);
    bc.login(&client.email).await;
    let own_ticket = bc.get(&format!("/search?q={number}")).await;
    assert!(own_ticket.body.contains("Hooli box broken"));
    let mine = bc.get("/search?q=hooli").await;
    assert!(mine
        .body
        .contains("Companies <span class=\"muted\">(1)</span>"));
    assert!(mine
        .body
        .contains("Assets <span class=\"muted\">(0)</span>"));
    assert!(!mine.body.contains("Hooli Rival") && !mine.body.contains("HOOLI-SRV"));
    let xss = bc.get("/search?q=%3Cscript%3Ex").await;
    assert_eq!(
        count(&xss.body, "<script"),
        2,
        "only the layout's two scripts"
    );
    assert!(xss.body.contains("&lt;script&gt;x"));
});

both!(web_admin_manages_users_and_everyone_their_tokens, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "840001", "Client Co").await;
    let ba = Browser::new(&app);
    let csrf = ba.login(&admin.email).await;
    let page = ba.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&admin.email));
    // A client without a company, a short password: errors at the fields.
    let bad = ba
        .post(
            "/admin/users/new",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "cli@client.example"),
                ("name", "Cli"),
                ("role", "client"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body.contains("id=\"f-company-error\"") || bad.body.contains("id=\"f-password-error\"")
    );
    let ok = ba
        .post(
            "/admin/users/new",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "cli@client.example"),
                ("name", "Cli"),
                ("role", "client"),
                ("company", "840001"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let u = hivematrix::auth::users::find_by_email(&app.db, "cli@client.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.company_id, Some(own["id"].as_i64().unwrap()));
    // The new user logs in; the admin makes them a technician, resets the password
    // (their session ends), disables them.
    let bu = Browser::new(&app);
    let login = bu
        .post(
            "/login",
            &[
                ("email", "cli@client.example"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let r = ba
        .post(
            &format!("/admin/users/{}/role", u.id),
            &[("csrf_token", csrf.as_str()), ("role", "technician")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(ba
        .get("/admin/users")
        .await
        .body
        .contains("is now technician."));
    let p = ba
        .post(
            &format!("/admin/users/{}/password", u.id),
            &[
                ("csrf_token", csrf.as_str()),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        bu.get("/codex").await.status,
        StatusCode::SEE_OTHER,
        "session ended"
    );
    let d = ba
        .post(
            &format!("/admin/users/{}/disable", u.id),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(d.status, StatusCode::SEE_OTHER);
    let u = hivematrix::auth::users::get(&app.db, u.id).await.unwrap();
    assert!(u.disabled && u.role == Role::Technician);
    // The admin cannot lock themselves out.
    ba.post(
        &format!("/admin/users/{}/disable", admin.user_id),
        &[("csrf_token", csrf.as_str())],
    )
    .await;
    let shown = ba.get("/admin/users").await;
    assert!(
        shown.body.contains("you cannot disable your own account"),
        "{}",
        shown.body
    );
    assert!(
        !hivematrix::auth::users::get(&app.db, admin.user_id)
            .await
            .unwrap()
            .disabled
    );
    // Tokens: a technician creates one (shown once, works), then revokes it.
    let tech = app.caller(Role::Technician, None).await;
    let bt = Browser::new(&app);
    let tcsrf = bt.login(&tech.email).await;
    assert_eq!(bt.get("/admin/users").await.status, StatusCode::FORBIDDEN);
    assert!(!bt
        .get("/codex")
        .await
        .body
        .contains("href=\"/admin/users\""));
    let created = bt
        .post(
            "/settings/tokens/new",
            &[
                ("csrf_token", tcsrf.as_str()),
                ("name", "my script"),
                ("expires_days", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let at = created.body.find("id=\"new-token\">").unwrap() + 15;
    let token = &created.body[at..at + created.body[at..].find('<').unwrap()];
    assert!(token.starts_with("hm_"), "{token}");
    let me = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let listed = bt.get("/settings/tokens").await;
    assert!(
        listed.body.contains("my script") && !listed.body.contains(token),
        "shown once"
    );
    let bad = bt
        .post(
            "/settings/tokens/new",
            &[
                ("csrf_token", tcsrf.as_str()),
                ("name", ""),
                ("expires_days", "x"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let tokens = hivematrix::auth::tokens::list(&app.db, Some(tech.user_id))
        .await
        .unwrap();
    let mine = tokens.iter().find(|t| t.name == "my script").unwrap();
    // Someone else's token id: 404, nothing revoked.
    let other = hivematrix::auth::tokens::list(&app.db, Some(admin.user_id))
        .await
        .unwrap();
    let theirs = bt
        .post(
            &format!("/settings/tokens/{}/revoke", other[0].id),
            &[("csrf_token", tcsrf.as_str())],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let rev = bt
        .post(
            &format!("/settings/tokens/{}/revoke", mine.id),
            &[("csrf_token", tcsrf.as_str())],
        )
        .await;
    assert_eq!(rev.status, StatusCode::SEE_OTHER);
    let me = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
});

both!(web_times_are_shown_in_the_users_time_zone, |app| {
    let admin = app.admin().await;
    let b = Browser::new(&app);
    let csrf = b.login(&admin.email).await;
    app.company(&admin, "850001", "Tz Co").await;
    let (_, c) = app.get("/codex/api/companies/850001", &admin).await;
    let utc = c["updated_at"].as_str().unwrap().to_string();
    let page = b.get("/codex/companies/850001").await;
    assert!(
        page.body.contains(" UTC</dd>"),
        "default UTC: {}",
        page.body
    );
    let bad = b
        .post(
            "/settings",
            &[
                ("csrf_token", csrf.as_str()),
                ("time_zone_preference", "Mars/Base"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"f-time_zone_preference-error\""));
    let ok = b
        .post(
            "/settings",
            &[
                ("csrf_token", csrf.as_str()),
                ("time_zone_preference", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let (_, s) = app.get("/codex/api/my/settings", &admin).await;
    assert_eq!(s["time_zone_preference"], "Asia/Tokyo");
    let t = hivematrix::time::from_db(&utc).unwrap();
    let tokyo = t
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%Y-%m-%d %H:%M JST")
        .to_string();
    let page = b.get("/codex/companies/850001").await;
    assert!(page.body.contains(&tokyo), "{tokyo}: {}", page.body);
    let audit = b.get("/codex/audit").await;
    assert!(audit.body.contains(" JST"), "{}", audit.body);
});

both!(web_billing_plans_list_export_and_import, |app| {
    let admin = app.admin().await;
    let (s, plan) = app
        .post(
            "/codex/api/billing-plans",
            &admin,
            json!({"plan_name": "Premium <b>", "term_length": "1 Year", "per_user_cost": "12.50"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let billing = app.caller(Role::Billing, None).await;
    let b = Browser::new(&app);
    let csrf = b.login(&billing.email).await;
    let page = b.get("/codex/billing-plans").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Premium &lt;b&gt;") && page.body.contains("12.50"));
    assert!(page.body.contains("action=\"/codex/billing-plans/import\""));
    // The export is the JSON API's document, fetched with the browser's session.
    let doc: serde_json::Value = b
        .client
        .get(format!("{}/codex/api/billing-plans/export", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut doc2 = doc.clone();
    doc2["plans"][0]["plan_name"] = json!("Imported Plan");
    let text = doc2.to_string();
    // Not JSON: the error at the field, nothing written.
    let bad = b
        .post(
            "/codex/billing-plans/import",
            &[("csrf_token", csrf.as_str()), ("document", "{nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"f-document-error\""));
    // A dry run reports and writes nothing; the real import writes.
    let dry = b
        .post(
            "/codex/billing-plans/import",
            &[
                ("csrf_token", csrf.as_str()),
                ("document", text.as_str()),
                ("dry_run", "1"),
            ],
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.body.contains("Dry run"), "{}", dry.body);
    assert!(!b
        .get("/codex/billing-plans")
        .await
        .body
        .contains("Imported Plan"));
    let real = b
        .post(
            "/codex/billing-plans/import",
            &[("csrf_token", csrf.as_str()), ("document", text.as_str())],
        )
        .await;
    assert_eq!(real.status, StatusCode::SEE_OTHER, "{}", real.body);
    let after = b.get("/codex/billing-plans").await;
    assert!(
        after.body.contains("Imported: 1 plans created"),
        "{}",
        after.body
    );
    assert!(after.body.contains("Imported Plan"));
    // A technician reads the plans but cannot import.
    let tech = app.caller(Role::Technician, None).await;
    let bt = Browser::new(&app);
    let tcsrf = bt.login(&tech.email).await;
    let tp = bt.get("/codex/billing-plans").await;
    assert_eq!(tp.status, StatusCode::OK);
    assert!(!tp.body.contains("/codex/billing-plans/import"));
    let refused = bt
        .post(
            "/codex/billing-plans/import",
            &[("csrf_token", tcsrf.as_str()), ("document", text.as_str())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
});

both!(
    web_billing_sets_a_companys_feature_overrides_on_the_plan_tab,
    |app| {
        let admin = app.admin().await;
        for v in ["EDR", "Defender"] {
            let (s, b) = app
                .post(
                    "/codex/api/feature-options",
                    &admin,
                    json!({"feature_category": "antivirus", "option_value": v}),
                )
                .await;
            assert!(s.is_success(), "{b}");
        }
        let (s, b) = app
        .post(
            "/codex/api/billing-plans",
            &admin,
            json!({"plan_name": "Gold", "term_length": "1 Year", "features": {"antivirus": "EDR"}}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, c) = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"account_number": "860001", "name": "Feat Co", "billing_plan": "Gold", "contract_term_length": "1 Year"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let billing = app.caller(Role::Billing, None).await;
        let b = Browser::new(&app);
        let csrf = b.login(&billing.email).await;
        let tab = b.get("/codex/companies/860001/tabs/plan").await;
        assert!(tab.body.contains("name=\"f_antivirus\""), "{}", tab.body);
        assert!(tab.body.contains("Use plan default (EDR)"));
        let saved = b
            .post(
                "/codex/companies/860001/features",
                &[("csrf_token", csrf.as_str()), ("f_antivirus", "Defender")],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        assert_eq!(saved.location(), "/codex/companies/860001?tab=plan");
        let id = c["id"].as_i64().unwrap();
        let eff = hivematrix::codex::plans::effective_features(&app.db, id)
            .await
            .unwrap();
        assert_eq!(eff.features["antivirus"], "Defender");
        let page = b.get("/codex/companies/860001?tab=plan").await;
        assert!(page.body.contains("1 override(s) saved"), "{}", page.body);
        // An unknown feature is refused with a message; nothing changes.
        b.post(
            "/codex/companies/860001/features",
            &[("csrf_token", csrf.as_str()), ("f_teleporter", "yes")],
        )
        .await;
        let eff = hivematrix::codex::plans::effective_features(&app.db, id)
            .await
            .unwrap();
        assert_eq!(eff.features["antivirus"], "Defender");
        // Back to the plan's value.
        b.post(
            "/codex/companies/860001/features",
            &[("csrf_token", csrf.as_str()), ("f_antivirus", "")],
        )
        .await;
        let eff = hivematrix::codex::plans::effective_features(&app.db, id)
            .await
            .unwrap();
        assert_eq!(eff.features["antivirus"], "EDR");
        // A technician sees the features but no override form, and may not post it.
        let tech = app.caller(Role::Technician, None).await;
        let bt = Browser::new(&app);
        let tcsrf = bt.login(&tech.email).await;
        let tab = bt.get("/codex/companies/860001/tabs/plan").await;
        assert!(tab.body.contains("EDR") && !tab.body.contains("name=\"f_antivirus\""));
        let refused = bt
            .post(
                "/codex/companies/860001/features",
                &[("csrf_token", tcsrf.as_str()), ("f_antivirus", "Defender")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
);
