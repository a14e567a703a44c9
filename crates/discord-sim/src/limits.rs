//! The documented rules on a message body that Discord's OpenAPI spec does not carry (or
//! carries looser): Discord answers a body that breaks one with `400 Invalid Form Body`
//! (`50035`), or, for an empty message, `50006 Cannot send an empty message`.
//!
//! - Content: "up to 2000 characters" (`docs/resources/message.mdx`), fewer than the spec
//!   allows.
//! - A new message carries at least one of content, embeds, components, files, stickers or a
//!   poll (error code 50006, `docs/topics/opcodes-and-status-codes.mdx`).
//! - Embeds: their titles, descriptions, field names and values, footer texts and author names
//!   "must not exceed 6000 characters" together.
//! - Allowed mentions: `parse: ["users"]` beside a `users` list (or `roles` beside `roles`) is
//!   "a validation error".
//! - A modal holds "between 1 and 5 (inclusive) components".
//! - Components (`docs/components/reference.mdx`): a message without the components-v2 flag
//!   holds up to 5 action rows; a row holds up to 5 buttons, or a single select, or (in a
//!   modal) a single text input; a button other than a link or premium one has a `custom_id`
//!   and no `url`, a link button a `url` and no `custom_id`; no two components of one message
//!   share a `custom_id`.

use serde_json::Value;

/// Discord's limit on a message's content, in characters.
pub const CONTENT_LIMIT: usize = 2000;
/// Discord's limit on the text of a message's embeds together, in characters.
pub const EMBEDS_LIMIT: usize = 6000;
/// The most components a modal holds.
pub const MODAL_COMPONENTS: usize = 5;

/// Discord's error code for a body that breaks a form rule.
pub const INVALID_FORM_BODY: u32 = 50035;
/// Discord's error code for a new message with nothing in it.
pub const EMPTY_MESSAGE: u32 = 50006;

/// A rule a body breaks: Discord's error code for it, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// [`INVALID_FORM_BODY`] or [`EMPTY_MESSAGE`].
    pub code: u32,
    /// What is wrong, naming the request.
    pub why: String,
}

/// Every rule `body`, sent as `method path` (after `/api/v10`), breaks.
pub fn check(method: &str, path: &str, body: &Value) -> Vec<Broken> {
    let mut broken = Vec::new();
    let mut empty = false;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let message = match (method, segments.as_slice()) {
        ("POST", ["interactions", _, _, "callback"]) => match body["type"].as_u64() {
            Some(9) => {
                let rows = &body["data"]["components"];
                let count = rows.as_array().map_or(0, Vec::len);
                if !(1..=MODAL_COMPONENTS).contains(&count) {
                    broken.push(format!(
                        "a modal holds 1 to {MODAL_COMPONENTS} components, not {count}"
                    ));
                }
                broken.extend(check_components(rows, Holder::Modal));
                None
            }
            // A new message; 7 edits the one clicked.
            Some(4) => {
                empty = is_empty(&body["data"]);
                body.get("data")
            }
            _ => body.get("data"),
        },
        ("POST", ["channels", _, "messages"]) | ("POST", ["webhooks", _, _]) => {
            empty = is_empty(body);
            Some(body)
        }
        ("POST" | "PATCH", ["channels", _, "messages", ..])
        | ("POST" | "PATCH", ["webhooks", _, _, ..]) => Some(body),
        _ => None,
    };
    if let Some(message) = message {
        broken.extend(check_message(message));
    }
    let named = |why: String| format!("{method} {path}: {why}");
    let mut broken: Vec<Broken> = broken
        .into_iter()
        .map(|why| Broken {
            code: INVALID_FORM_BODY,
            why: named(why),
        })
        .collect();
    if empty {
        broken.push(Broken {
            code: EMPTY_MESSAGE,
            why: named("a new message with no content, embeds, components or files".into()),
        });
    }
    broken
}

/// Whether a new message's body carries nothing Discord would show.
fn is_empty(message: &Value) -> bool {
    let filled = |key: &str| match &message[key] {
        // Discord trims a message's content: spaces alone are nothing.
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Null => false,
        _ => true,
    };
    ![
        "content",
        "embeds",
        "components",
        "attachments",
        "sticker_ids",
        "poll",
    ]
    .iter()
    .any(|key| filled(key))
}

/// Where components are sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    Message,
    Modal,
}

/// The rules `rows` (a message's or a modal's top-level components) break.
fn check_components(rows: &Value, holder: Holder) -> Vec<String> {
    let mut broken = Vec::new();
    let Some(rows) = rows.as_array() else {
        return broken;
    };
    if holder == Holder::Message && rows.len() > 5 {
        broken.push(format!(
            "{} action rows, over the 5 a message holds",
            rows.len()
        ));
    }
    let mut custom_ids = std::collections::HashSet::new();
    for row in rows {
        // A modal may also hold labels (18) and text displays (10) at the top.
        if holder == Holder::Modal && matches!(row["type"].as_u64(), Some(10 | 18)) {
            continue;
        }
        if row["type"] != 1 {
            broken.push(format!(
                "a top-level component of type {} is not an action row",
                row["type"]
            ));
            continue;
        }
        let inner: &[Value] = row["components"].as_array().map_or(&[], Vec::as_slice);
        let kinds: Vec<u64> = inner.iter().filter_map(|c| c["type"].as_u64()).collect();
        let single = |kind: &str| {
            format!(
                "a row with a {kind} holds it alone, not {} components",
                inner.len()
            )
        };
        if kinds.is_empty() || inner.len() > 5 {
            broken.push(format!(
                "an action row holds 1 to 5 components, not {}",
                inner.len()
            ));
        } else if kinds.iter().any(|k| matches!(k, 3 | 5..=8)) && inner.len() > 1 {
            broken.push(single("select menu"));
        } else if kinds.contains(&4) && inner.len() > 1 {
            broken.push(single("text input"));
        }
        match holder {
            Holder::Modal if kinds.iter().any(|k| *k != 4) => {
                broken.push("a modal's rows hold text inputs only".into())
            }
            Holder::Message if kinds.contains(&4) => {
                broken.push("a text input belongs in a modal, not a message".into())
            }
            _ => {}
        }
        for component in inner {
            if component["type"] == 2 {
                let has = |key: &str| component[key].as_str().is_some();
                match component["style"].as_u64() {
                    Some(5) if !has("url") || has("custom_id") => {
                        broken.push("a link button has a url and no custom_id".into())
                    }
                    Some(1..=4) if !has("custom_id") || has("url") => {
                        broken.push("a button other than a link has a custom_id and no url".into())
                    }
                    _ => {}
                }
            }
            if let Some(id) = component["custom_id"].as_str() {
                if !custom_ids.insert(id) {
                    broken.push(format!("two components share the custom_id {id:?}"));
                }
            }
        }
    }
    broken
}

/// The rules a message (created or edited) breaks.
fn check_message(message: &Value) -> Vec<String> {
    let mut broken = Vec::new();
    // The components-v2 flag lifts the 5-row layout: this bot does not send it.
    let v2 = message["flags"]
        .as_u64()
        .is_some_and(|f| f & (1 << 15) != 0);
    if !v2 {
        broken.extend(check_components(&message["components"], Holder::Message));
    }
    let content = message["content"].as_str().map_or(0, |c| c.chars().count());
    if content > CONTENT_LIMIT {
        broken.push(format!(
            "content is {content} characters, over Discord's {CONTENT_LIMIT}"
        ));
    }
    let embeds = message["embeds"]
        .as_array()
        .map_or(0, |embeds| embeds.iter().map(embed_text).sum());
    if embeds > EMBEDS_LIMIT {
        broken.push(format!(
            "embeds hold {embeds} characters, over Discord's {EMBEDS_LIMIT}"
        ));
    }
    let mentions = &message["allowed_mentions"];
    for kind in ["users", "roles"] {
        let parsed = mentions["parse"]
            .as_array()
            .is_some_and(|p| p.iter().any(|k| k == kind));
        let listed = mentions[kind].as_array().is_some_and(|l| !l.is_empty());
        if parsed && listed {
            broken.push(format!(
                "allowed_mentions parses {kind} and lists them too (mutually exclusive)"
            ));
        }
    }
    broken
}

/// The characters of an embed that count towards the 6,000.
fn embed_text(embed: &Value) -> usize {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let fields: usize = embed["fields"].as_array().map_or(0, |fields| {
        fields
            .iter()
            .map(|f| len(&f["name"]) + len(&f["value"]))
            .sum()
    });
    len(&embed["title"])
        + len(&embed["description"])
        + len(&embed["footer"]["text"])
        + len(&embed["author"]["name"])
        + fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_over_2000_characters_is_refused_wherever_a_message_is_made() {
        let long = json!({"content": "é".repeat(2001)});
        assert_eq!(check("POST", "/channels/1/messages", &long).len(), 1);
        assert_eq!(check("PATCH", "/channels/1/messages/2", &long).len(), 1);
        assert_eq!(check("POST", "/webhooks/1/tok", &long).len(), 1);
        let callback = json!({"type": 4, "data": long});
        assert_eq!(
            check("POST", "/interactions/1/tok/callback", &callback).len(),
            1
        );
        let fits = json!({"content": "é".repeat(2000)});
        assert!(check("POST", "/channels/1/messages", &fits).is_empty());
        assert!(check("GET", "/channels/1/messages", &long).is_empty());
    }

    #[test]
    fn embeds_count_together() {
        let half = json!({"title": "t", "description": "d".repeat(3000)});
        let two = json!({"embeds": [half.clone(), half]});
        assert_eq!(check("POST", "/channels/1/messages", &two).len(), 1);
        let one = json!({"embeds": [{"description": "d".repeat(4000), "fields": [{"name": "n", "value": "v"}]}]});
        assert!(check("POST", "/channels/1/messages", &one).is_empty());
    }

    #[test]
    fn parsing_a_kind_of_mention_and_listing_it_is_refused() {
        let both =
            json!({"content": "c", "allowed_mentions": {"parse": ["users"], "users": ["1"]}});
        assert_eq!(check("POST", "/channels/1/messages", &both).len(), 1);
        let roles =
            json!({"content": "c", "allowed_mentions": {"parse": ["users"], "roles": ["1"]}});
        assert!(check("POST", "/channels/1/messages", &roles).is_empty());
        let listed = json!({"content": "c", "allowed_mentions": {"parse": [], "users": ["1"]}});
        assert!(check("POST", "/channels/1/messages", &listed).is_empty());
    }

    #[test]
    fn a_modal_holds_one_to_five_components() {
        let modal = |n: usize| {
            let rows: Vec<Value> = (0..n)
                .map(|i| json!({"type": 1, "components": [{"type": 4, "custom_id": format!("t{i}"), "style": 1, "label": "l"}]}))
                .collect();
            json!({"type": 9, "data": {"custom_id": "m", "title": "t", "components": rows}})
        };
        let path = "/interactions/1/tok/callback";
        assert!(check("POST", path, &modal(1)).is_empty());
        assert!(check("POST", path, &modal(5)).is_empty());
        assert_eq!(check("POST", path, &modal(0)).len(), 1);
        assert_eq!(check("POST", path, &modal(6)).len(), 1);
    }

    #[test]
    fn a_new_message_must_carry_something() {
        let codes = |method: &str, path: &str, body: Value| -> Vec<u32> {
            check(method, path, &body).iter().map(|b| b.code).collect()
        };
        let empty = vec![EMPTY_MESSAGE];
        assert_eq!(
            codes("POST", "/channels/1/messages", json!({"content": ""})),
            empty
        );
        assert_eq!(
            codes("POST", "/webhooks/1/tok", json!({"flags": 64})),
            empty
        );
        let callback = json!({"type": 4, "data": {"embeds": []}});
        assert_eq!(
            codes("POST", "/interactions/1/tok/callback", callback),
            empty
        );
        // Edits, a deferral and an update need nothing.
        assert!(codes("PATCH", "/channels/1/messages/2", json!({"components": []})).is_empty());
        assert!(codes("POST", "/interactions/1/tok/callback", json!({"type": 5})).is_empty());
        let update = json!({"type": 7, "data": {"components": []}});
        assert!(codes("POST", "/interactions/1/tok/callback", update).is_empty());
        let embed = json!({"embeds": [{"title": "t"}]});
        assert!(codes("POST", "/channels/1/messages", embed).is_empty());
    }

    #[test]
    fn components_keep_discords_layout() {
        let button = |id: &str| json!({"type": 2, "style": 1, "label": "b", "custom_id": id});
        let select = json!({"type": 3, "custom_id": "s", "options": []});
        let post = |components: Value| {
            check(
                "POST",
                "/channels/1/messages",
                &json!({"content": "c", "components": components}),
            )
            .len()
        };
        let row = |items: Vec<Value>| json!({"type": 1, "components": items});
        assert_eq!(post(json!([row(vec![button("a"), button("b")])])), 0);
        assert_eq!(post(json!([row(vec![select.clone()])])), 0);
        let six_rows: Vec<Value> = (0..6)
            .map(|i| row(vec![button(&format!("b{i}"))]))
            .collect();
        assert_eq!(post(Value::Array(six_rows)), 1);
        let six: Vec<Value> = (0..6).map(|i| button(&format!("b{i}"))).collect();
        assert_eq!(post(json!([row(six)])), 1);
        assert_eq!(post(json!([row(vec![])])), 1);
        assert_eq!(post(json!([row(vec![select, button("a")])])), 1);
        assert_eq!(
            post(json!([row(vec![button("a")]), row(vec![button("a")])])),
            1
        );
        let no_id = json!({"type": 2, "style": 2, "label": "b"});
        assert_eq!(post(json!([row(vec![no_id])])), 1);
        let link =
            json!({"type": 2, "style": 5, "label": "b", "url": "https://x", "custom_id": "l"});
        assert_eq!(post(json!([row(vec![link])])), 1);
        assert_eq!(post(json!([button("a")])), 1, "a button outside a row");
        let text = json!({"type": 4, "custom_id": "t", "style": 1, "label": "l"});
        let modal = |rows: Value| {
            let body =
                json!({"type": 9, "data": {"custom_id": "m", "title": "t", "components": rows}});
            check("POST", "/interactions/1/tok/callback", &body).len()
        };
        assert_eq!(modal(json!([row(vec![text.clone()])])), 0);
        assert_eq!(
            modal(json!([row(vec![text.clone(), text.clone()])])),
            2,
            "two inputs, one id"
        );
        assert_eq!(modal(json!([row(vec![button("a")])])), 1);
        assert_eq!(
            post(json!([row(vec![text])])),
            1,
            "a text input in a message"
        );
    }
}
