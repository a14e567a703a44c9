//! Who a message the bot sends pings, worked out as Discord does (docs/resources/message.mdx,
//! "Allowed Mentions Object"): the mentions in its content that `allowed_mentions` lets
//! through — every kind when it is absent — of members who exist; a role only if it is
//! mentionable or the bot has Mention Everyone there; `@everyone` and `@here` only with Mention
//! Everyone. The message then carries them in `mentions`, `mention_roles` and
//! `mention_everyone`, so a test can read who was pinged rather than what the bot asked for.

use serde_json::{json, Value};

use crate::guild::{bits, Guild};
use crate::payloads::APP_ID;

/// Sets `message`'s mention fields for its content, sent with `body`'s `allowed_mentions` in
/// `channel` (`in_guild` false for a DM).
pub fn apply(message: &mut Value, body: &Value, guild: &Guild, channel: u64, in_guild: bool) {
    let content = message["content"].as_str().unwrap_or_default().to_owned();
    let allowed = body.get("allowed_mentions").filter(|a| !a.is_null());
    let parses = |kind: &str| {
        allowed.is_none_or(|a| {
            a["parse"]
                .as_array()
                .is_some_and(|p| p.iter().any(|k| k == kind))
        })
    };
    let listed = |kind: &str, id: u64| {
        allowed.is_some_and(|a| {
            a[kind]
                .as_array()
                .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(&id.to_string())))
        })
    };
    let may_mention_everyone =
        in_guild && guild.permissions_in(APP_ID, channel) & bits::MENTION_EVERYONE != 0;
    let mut users = Vec::new();
    let mut roles = Vec::new();
    for (kind, id) in tags(&content) {
        match kind {
            Tag::User
                if (parses("users") || listed("users", id))
                    && guild.members.contains_key(&id)
                    && !users.contains(&id) =>
            {
                users.push(id);
            }
            Tag::Role if in_guild && (parses("roles") || listed("roles", id)) => {
                let mentionable = guild
                    .role(id)
                    .is_some_and(|r| r.mentionable || may_mention_everyone);
                if mentionable && !roles.contains(&id) {
                    roles.push(id);
                }
            }
            _ => {}
        }
    }
    let everyone =
        may_mention_everyone && parses("everyone") && unescaped(&content, "@everyone", "@here");
    message["mentions"] = json!(users
        .iter()
        .map(|u| guild.user_json(*u))
        .collect::<Vec<_>>());
    message["mention_roles"] = json!(roles.iter().map(u64::to_string).collect::<Vec<_>>());
    message["mention_everyone"] = json!(everyone);
}

/// What a `<…>` tag names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    User,
    Role,
}

/// The user (`<@id>`, `<@!id>`) and role (`<@&id>`) tags of `content`, in order; a tag after a
/// backslash is shown as text, not as a mention.
fn tags(content: &str) -> Vec<(Tag, u64)> {
    let mut found = Vec::new();
    let mut rest = content;
    let mut offset = 0;
    while let Some(at) = rest.find("<@") {
        let escaped = escaped_at(content, offset + at);
        let after = &rest[at + 2..];
        let (kind, digits) = match after.strip_prefix('&') {
            Some(role) => (Tag::Role, role),
            None => (Tag::User, after.strip_prefix('!').unwrap_or(after)),
        };
        let end = digits.find('>');
        if let (Some(end), false) = (end, escaped) {
            if let Ok(id) = digits[..end].parse::<u64>() {
                found.push((kind, id));
            }
        }
        offset += at + 2;
        rest = &rest[at + 2..];
    }
    found
}

/// Whether the character at byte `at` of `content` is escaped: an odd number of backslashes
/// before it (an even number are escaped backslashes).
fn escaped_at(content: &str, at: usize) -> bool {
    content[..at]
        .chars()
        .rev()
        .take_while(|c| *c == '\\')
        .count()
        % 2
        == 1
}

/// Whether `content` holds `a` or `b` unescaped.
fn unescaped(content: &str, a: &str, b: &str) -> bool {
    [a, b].iter().any(|word| {
        content
            .match_indices(word)
            .any(|(at, _)| !escaped_at(content, at))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guild::EVALUATOR_ROLE;
    use crate::payloads::{BOB, CAROL, GENERAL, STAFF_ROLE};

    fn sent(content: &str, allowed: Value) -> Value {
        let guild = Guild::league();
        let body = json!({"content": content, "allowed_mentions": allowed});
        let mut message = json!({"content": content});
        apply(&mut message, &body, &guild, GENERAL, true);
        message
    }

    fn user_ids(message: &Value) -> Vec<String> {
        message["mentions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn without_allowed_mentions_everything_in_the_content_pings() {
        let text = format!("<@{BOB}> <@&{STAFF_ROLE}> @everyone");
        let message = sent(&text, Value::Null);
        assert_eq!(user_ids(&message), [BOB.to_string()]);
        assert_eq!(message["mention_roles"], json!([STAFF_ROLE.to_string()]));
        assert_eq!(message["mention_everyone"], true);
    }

    #[test]
    fn allowed_mentions_let_through_only_what_they_name() {
        let text = format!("<@{BOB}> <@!{CAROL}> <@&{EVALUATOR_ROLE}> @here");
        let none = sent(&text, json!({"parse": []}));
        assert!(user_ids(&none).is_empty());
        assert_eq!(none["mention_roles"], json!([]));
        assert_eq!(none["mention_everyone"], false);
        let carol = sent(&text, json!({"parse": [], "users": [CAROL.to_string()]}));
        assert_eq!(user_ids(&carol), [CAROL.to_string()]);
        let users = sent(&text, json!({"parse": ["users"]}));
        assert_eq!(user_ids(&users), [BOB.to_string(), CAROL.to_string()]);
    }

    #[test]
    fn an_escaped_tag_is_text() {
        let text = format!("\\<@{BOB}\\> \\@everyone");
        let message = sent(&text, Value::Null);
        assert!(user_ids(&message).is_empty());
        assert_eq!(message["mention_everyone"], false);
        // An escaped backslash escapes nothing after it.
        let text = format!("\\\\<@{BOB}>");
        assert_eq!(user_ids(&sent(&text, Value::Null)), [BOB.to_string()]);
    }
}
