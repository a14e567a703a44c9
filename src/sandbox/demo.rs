//! The sandbox's demo league: a server with its channels, roles and members as the simulator
//! keeps them, and the bot's settings and a few values already in its database, so every
//! command has something to work on from the first click.

use anyhow::Context as _;
use discord_sim::guild::{bits, Channel, Guild, Overwrite, Role};
use discord_sim::payloads::{
    ALICE, ALL_PERMISSIONS, APP_ID, BOB, CAROL, GUILD_ID, MEMBER_PERMISSIONS,
};
use serenity::all::{GuildId, UserId};

use crate::db::{Db, GuildSettings, ValueChange};

/// `#general`, where the page opens.
pub const GENERAL: u64 = 1_100_000_000_000_000_050;
/// `#tryout-results`, where tryout results are posted.
pub const RESULTS: u64 = 1_100_000_000_000_000_051;
/// `#values`, where value changes are announced.
pub const VALUES: u64 = 1_100_000_000_000_000_052;
/// `#announcements`, an announcement channel only staff post in.
pub const ANNOUNCEMENTS: u64 = 1_100_000_000_000_000_053;
/// `#matches`, where match cards are posted.
pub const MATCHES: u64 = 1_100_000_000_000_000_054;
/// `#staff`, where staff approve match results and evaluators pick up tryout requests; only
/// they see it.
pub const STAFF: u64 = 1_100_000_000_000_000_055;

/// `Awaiting Tryout`: players not evaluated yet (a tryout takes it away).
pub const AWAITING_ROLE: u64 = 1_100_000_000_000_000_060;
/// `Tryout Passed`: given by a confirmed tryout.
pub const PASSED_ROLE: u64 = 1_100_000_000_000_000_061;
/// `Evaluator`: may run tryouts.
pub const EVALUATOR_ROLE: u64 = 1_100_000_000_000_000_062;
/// `Staff`: may change values.
pub const STAFF_ROLE: u64 = 1_100_000_000_000_000_063;
/// The bot's own managed role.
pub const BOT_ROLE: u64 = 1_100_000_000_000_000_064;

/// You: the server's owner.
pub const YOU: u64 = ALICE;
/// Sam, on the staff.
pub const SAM: u64 = 1_100_000_000_000_000_104;
/// Eve, an evaluator.
pub const EVE: u64 = 1_100_000_000_000_000_105;
/// Players: Bob, Carol and Gus have values; Dan and Femi await their tryout.
pub const PLAYERS: [(u64, &str); 5] = [
    (BOB, "bob"),
    (CAROL, "carol"),
    (1_100_000_000_000_000_106, "dan"),
    (1_100_000_000_000_000_107, "femi"),
    (1_100_000_000_000_000_108, "gus"),
];
/// The values the demo starts with, in millions.
const VALUES_AT_START: [(u64, i64); 3] = [(BOB, 42), (CAROL, 35), (1_100_000_000_000_000_108, 27)];

fn role(id: u64, name: &str, permissions: u64, position: u64) -> Role {
    Role {
        mentionable: id == EVALUATOR_ROLE,
        managed: id == BOT_ROLE,
        ..Role::new(id, name, permissions, position)
    }
}

fn channel(id: u64, name: &str, kind: u8, read_only: bool) -> Channel {
    // Read-only for members; staff and the bot post there, as such channels are set up.
    let overwrites = if read_only {
        let role = |id, allow, deny| Overwrite {
            id,
            member: false,
            allow,
            deny,
        };
        vec![
            role(GUILD_ID, 0, bits::SEND_MESSAGES),
            role(STAFF_ROLE, bits::SEND_MESSAGES, 0),
            role(BOT_ROLE, bits::SEND_MESSAGES, 0),
        ]
    } else {
        Vec::new()
    };
    Channel {
        id,
        name: name.to_owned(),
        kind,
        parent: None,
        locked: false,
        guild: GUILD_ID,
        overwrites,
    }
}

/// `channel`, hidden from everyone but staff, evaluators and the bot.
fn staff_only(mut channel: Channel) -> Channel {
    let role = |id, allow, deny| Overwrite {
        id,
        member: false,
        allow,
        deny,
    };
    channel.overwrites = vec![
        role(GUILD_ID, 0, bits::VIEW_CHANNEL),
        role(STAFF_ROLE, bits::VIEW_CHANNEL, 0),
        role(EVALUATOR_ROLE, bits::VIEW_CHANNEL, 0),
        role(BOT_ROLE, bits::VIEW_CHANNEL, 0),
    ];
    channel
}

/// The demo server as Discord would hold it.
pub fn guild() -> Guild {
    let mut names = std::collections::HashMap::from([
        (YOU, "you".to_owned()),
        (SAM, "sam".to_owned()),
        (EVE, "eve".to_owned()),
    ]);
    let mut members = std::collections::HashMap::from([
        (YOU, vec![STAFF_ROLE]),
        (SAM, vec![STAFF_ROLE]),
        (EVE, vec![EVALUATOR_ROLE]),
        (APP_ID, vec![BOT_ROLE]),
    ]);
    for (id, name) in PLAYERS {
        names.insert(id, name.to_owned());
        let evaluated = VALUES_AT_START.iter().any(|(player, _)| *player == id);
        let role = if evaluated {
            PASSED_ROLE
        } else {
            AWAITING_ROLE
        };
        members.insert(id, vec![role]);
    }
    Guild {
        name: "Novera Demo League".to_owned(),
        names,
        owner: YOU,
        roles: vec![
            role(GUILD_ID, "@everyone", MEMBER_PERMISSIONS, 0),
            role(AWAITING_ROLE, "Awaiting Tryout", 0, 1),
            role(PASSED_ROLE, "Tryout Passed", 0, 2),
            role(EVALUATOR_ROLE, "Evaluator", 0, 3),
            role(STAFF_ROLE, "Staff", 0, 4),
            role(
                BOT_ROLE,
                "Novera",
                ALL_PERMISSIONS & !bits::ADMINISTRATOR,
                5,
            ),
        ],
        members,
        channels: vec![
            channel(GENERAL, "general", 0, false),
            channel(RESULTS, "tryout-results", 0, true),
            channel(VALUES, "values", 0, true),
            channel(ANNOUNCEMENTS, "announcements", 5, true),
            channel(MATCHES, "matches", 0, true),
            staff_only(channel(STAFF, "staff", 0, false)),
        ],
        timed_out: Default::default(),
        pending: Default::default(),
    }
}

/// Writes the demo league's settings and starting values into a new database.
pub async fn seed(db: &Db) -> anyhow::Result<()> {
    let guild = GuildId::new(GUILD_ID);
    let settings = GuildSettings {
        results_channel: Some(RESULTS),
        values_channel: Some(VALUES),
        evaluator_role: Some(EVALUATOR_ROLE),
        staff_role: Some(STAFF_ROLE),
        add_role: Some(PASSED_ROLE),
        remove_role: Some(AWAITING_ROLE),
        matches_channel: Some(MATCHES),
        staff_channel: Some(STAFF),
        welcome_channel: Some(GENERAL),
        welcome_role: Some(AWAITING_ROLE),
        welcome_message: Some(
            "Welcome to the Novera Demo League, {member}! Ask for a tryout with /tryout request."
                .to_owned(),
        ),
        ..GuildSettings::default()
    };
    db.update_settings(guild, &settings)
        .await
        .context("writing the demo league's settings")?;
    for (player, value) in VALUES_AT_START {
        db.change_value(
            guild,
            UserId::new(player),
            UserId::new(YOU),
            ValueChange::Set(value),
            Some("demo league"),
        )
        .await
        .context("writing the demo league's values")?
        .map_err(|refused| anyhow::anyhow!("a demo value is out of bounds: {refused:?}"))?;
    }
    Ok(())
}
