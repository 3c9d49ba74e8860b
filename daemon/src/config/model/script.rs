//! A command the operator configured (notify scripts, IPVS scripts, restart
//! commands) and the account it runs as when it names one: keepalived's
//! `notify_master "/path/to/script args" [USER [GROUP]]`.
//!
//! In TOML either a string (`on_master = "/usr/local/bin/master.sh"`) or a
//! table (`on_master = { command = "...", user = "www", group = "www" }`).

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ScriptUser;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The command line, split as keepalived does (`exec::split_command`).
    pub command: String,
    /// Its own account; None: the default for its kind (see `config::scripts`).
    pub user: Option<ScriptUser>,
}

impl Script {
    pub fn new(command: impl Into<String>) -> Self {
        Script {
            command: command.into(),
            user: None,
        }
    }

    pub fn is_blank(&self) -> bool {
        self.command.trim().is_empty()
    }
}

impl From<&str> for Script {
    fn from(s: &str) -> Self {
        Script::new(s)
    }
}

/// The table form.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Full {
    command: String,
    user: Option<String>,
    group: Option<String>,
}

impl Serialize for Script {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.user {
            None => s.serialize_str(&self.command),
            Some(u) => Full {
                command: self.command.clone(),
                user: Some(u.user.clone()),
                group: u.group.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Script;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command line, or a table { command, user, group }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Script, E> {
                Ok(Script::new(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Script, A::Error> {
                let f = Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let user = match (f.user, f.group) {
                    (Some(user), group) => Some(ScriptUser { user, group }),
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(de::Error::custom("'group' needs a 'user'"));
                    }
                };
                Ok(Script {
                    command: f.command,
                    user,
                })
            }
        }
        d.deserialize_any(V)
    }
}
