//! The documented rules on a message body that Discord's OpenAPI spec does not carry (or
//! carries looser): Discord answers a body that breaks one with `400 Invalid Form Body`.
//!
//! - Content: "up to 2000 characters" (`docs/resources/message.mdx`), fewer than the spec
//!   allows.
//! - Embeds: their titles, descriptions, field names and values, footer texts and author names
//!   "must not exceed 6000 characters" together.
//! - Allowed mentions: `parse: ["users"]` beside a `users` list (or `roles` beside `roles`) is
//!   "a validation error".
//! - A modal holds "between 1 and 5 (inclusive) components".

use serde_json::Value;

/// Discord's limit on a message's content, in characters.
pub const CONTENT_LIMIT: usize = 2000;
/// Discord's limit on the text of a message's embeds together, in characters.
pub const EMBEDS_LIMIT: usize = 6000;
/// The most components a modal holds.
pub const MODAL_COMPONENTS: usize = 5;

/// Every rule `body`, sent as `method path` (after `/api/v10`), breaks.
pub fn check(method: &str, path: &str, body: &Value) -> Vec<String> {
    let mut broken = Vec::new();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let message = match (method, segments.as_slice()) {
        ("POST", ["interactions", _, _, "callback"]) => {
            if body["type"] == 9 {
                let count = body["data"]["components"].as_array().map_or(0, Vec::len);
                if !(1..=MODAL_COMPONENTS).contains(&count) {
                    broken.push(format!(
                        "a modal holds 1 to {MODAL_COMPONENTS} components, not {count}"
                    ));
                }
                None
            } else {
                body.get("data")
            }
        }
        ("POST" | "PATCH", ["channels", _, "messages", ..])
        | ("POST" | "PATCH", ["webhooks", _, _, ..]) => Some(body),
        _ => None,
    };
    if let Some(message) = message {
        broken.extend(check_message(message));
    }
    broken
        .into_iter()
        .map(|why| format!("{method} {path}: {why}"))
        .collect()
}

/// The rules a message (created or edited) breaks.
fn check_message(message: &Value) -> Vec<String> {
    let mut broken = Vec::new();
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
        let both = json!({"allowed_mentions": {"parse": ["users"], "users": ["1"]}});
        assert_eq!(check("POST", "/channels/1/messages", &both).len(), 1);
        let roles = json!({"allowed_mentions": {"parse": ["users"], "roles": ["1"]}});
        assert!(check("POST", "/channels/1/messages", &roles).is_empty());
        let listed = json!({"allowed_mentions": {"parse": [], "users": ["1"]}});
        assert!(check("POST", "/channels/1/messages", &listed).is_empty());
    }

    #[test]
    fn a_modal_holds_one_to_five_components() {
        let modal = |n: usize| {
            let rows: Vec<Value> = (0..n).map(|_| json!({"type": 1})).collect();
            json!({"type": 9, "data": {"custom_id": "m", "title": "t", "components": rows}})
        };
        let path = "/interactions/1/tok/callback";
        assert!(check("POST", path, &modal(1)).is_empty());
        assert!(check("POST", path, &modal(5)).is_empty());
        assert_eq!(check("POST", path, &modal(0)).len(), 1);
        assert_eq!(check("POST", path, &modal(6)).len(), 1);
    }
}
