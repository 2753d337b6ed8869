//! Key bindings as data: the embedded defaults (assets/keys.toml) merged with the
//! user's overrides, validated at load (unknown actions, unparseable keys and keys bound
//! to two actions are errors, never panics).

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::UserAction;

const DEFAULT_KEYS: &str = include_str!("../../assets/keys.toml");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyMapError {
    #[error("unknown action \"{0}\" in the keymap; known actions: {known}", known = known_actions())]
    UnknownAction(String),
    #[error(
        "cannot read key \"{key}\" for action \"{action}\"; use forms like \"j\", \"ctrl-d\", \"PgDn\", \"space\""
    )]
    BadKey { action: String, key: String },
    #[error(
        "key \"{key}\" is bound to both \"{first}\" and \"{second}\"; remove one of the bindings"
    )]
    Conflict {
        key: String,
        first: String,
        second: String,
    },
    #[error("key \"{key}\" is reserved (Ctrl-C always quits); bind \"{action}\" to another key")]
    Reserved { action: String, key: String },
    #[error("action \"{0}\" has no keys; give it at least one key")]
    Unbound(String),
    #[error("the embedded default keymap is invalid: {0}")]
    Defaults(String),
}

fn known_actions() -> String {
    UserAction::ALL
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A key with its modifiers, normalised (SHIFT is dropped from characters because the
/// character already says it: `G` is shift-g).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub mods: u8,
}

/// `KeyCode` wrapped so keys can live in ordered maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyCodeOrd(pub KeyCode);

impl PartialOrd for KeyCodeOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyCodeOrd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        format!("{:?}", self.0).cmp(&format!("{:?}", other.0))
    }
}

impl Key {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Self {
            code: KeyCodeOrd(code),
            mods: mods.bits(),
        }
    }

    pub fn from_event(ev: &KeyEvent) -> Self {
        Self::new(ev.code, ev.modifiers)
    }

    pub fn modifiers(self) -> KeyModifiers {
        KeyModifiers::from_bits_truncate(self.mods)
    }

    pub fn is_ctrl_c(self) -> bool {
        self.code.0 == KeyCode::Char('c') && self.modifiers() == KeyModifiers::CONTROL
    }

    /// Parse the keymap syntax: optional `ctrl-`/`alt-`/`shift-` prefixes and a key name.
    pub fn parse(s: &str) -> Option<Self> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 {
                if let Some(r) = lower.strip_prefix("ctrl-") {
                    mods |= KeyModifiers::CONTROL;
                    rest = &rest[rest.len() - r.len()..];
                    continue;
                }
                if let Some(r) = lower.strip_prefix("alt-") {
                    mods |= KeyModifiers::ALT;
                    rest = &rest[rest.len() - r.len()..];
                    continue;
                }
                if let Some(r) = lower.strip_prefix("shift-") {
                    mods |= KeyModifiers::SHIFT;
                    rest = &rest[rest.len() - r.len()..];
                    continue;
                }
            }
            break;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                // ctrl-D and ctrl-d are the same key to a terminal.
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else if mods.contains(KeyModifiers::SHIFT) && c.is_ascii_lowercase() {
                    KeyCode::Char(c.to_ascii_uppercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pagedown" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "tab" if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                f if f.starts_with('f') => {
                    let n: u8 = f[1..].parse().ok()?;
                    if !(1..=12).contains(&n) {
                        return None;
                    }
                    KeyCode::F(n)
                }
                _ => return None,
            },
        };
        Some(Self::new(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mods = self.modifiers();
        if mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code.0 {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("BackTab"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The runtime keymap: key → action, plus each action's keys in file order for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    by_key: BTreeMap<Key, UserAction>,
    by_action: BTreeMap<UserAction, Vec<Key>>,
}

impl KeyMap {
    /// The embedded defaults. They are validated by a test, so this cannot fail at run time.
    pub fn defaults() -> Self {
        Self::from_config(&BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The defaults with the user's overrides merged over them, action by action (an
    /// override replaces that action's keys).
    pub fn from_config(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, KeyMapError> {
        let mut merged: BTreeMap<String, Vec<String>> =
            toml::from_str(DEFAULT_KEYS).map_err(|e| KeyMapError::Defaults(e.to_string()))?;
        for (name, keys) in overrides {
            if UserAction::from_name(name).is_none() {
                return Err(KeyMapError::UnknownAction(name.clone()));
            }
            merged.insert(name.clone(), keys.clone());
        }
        // Defaults must name every action; a missing one is a bug in assets/keys.toml.
        for action in UserAction::ALL {
            if !merged.contains_key(action.name()) {
                return Err(KeyMapError::Defaults(format!(
                    "no keys for {}",
                    action.name()
                )));
            }
        }
        let mut by_key: BTreeMap<Key, UserAction> = BTreeMap::new();
        let mut by_action: BTreeMap<UserAction, Vec<Key>> = BTreeMap::new();
        // Walk in the canonical action order so conflict messages are stable.
        for action in UserAction::ALL {
            let keys = merged.get(action.name()).cloned().unwrap_or_default();
            if keys.is_empty() {
                return Err(KeyMapError::Unbound(action.name().to_string()));
            }
            for text in keys {
                let key = Key::parse(&text).ok_or_else(|| KeyMapError::BadKey {
                    action: action.name().to_string(),
                    key: text.clone(),
                })?;
                if key.is_ctrl_c() {
                    return Err(KeyMapError::Reserved {
                        action: action.name().to_string(),
                        key: text,
                    });
                }
                if let Some(other) = by_key.get(&key) {
                    if *other != action {
                        return Err(KeyMapError::Conflict {
                            key: key.to_string(),
                            first: other.name().to_string(),
                            second: action.name().to_string(),
                        });
                    }
                    continue;
                }
                by_key.insert(key, action);
                by_action.entry(action).or_default().push(key);
            }
        }
        Ok(Self { by_key, by_action })
    }

    pub fn lookup(&self, ev: &KeyEvent) -> Option<UserAction> {
        self.by_key.get(&Key::from_event(ev)).copied()
    }

    pub fn keys_for(&self, action: UserAction) -> &[Key] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The first key of an action, as shown in hints ("i", "?").
    pub fn primary(&self, action: UserAction) -> String {
        self.keys_for(action)
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// All keys of an action joined for the help overlay ("j, Down").
    pub fn describe(&self, action: UserAction) -> String {
        self.keys_for(action)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// True if this key event is bound to this action.
    pub fn is(&self, ev: &KeyEvent, action: UserAction) -> bool {
        self.lookup(ev) == Some(action)
    }
}

impl Default for KeyMap {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            Key::parse("G"),
            Some(Key::new(KeyCode::Char('G'), KeyModifiers::SHIFT))
        );
        assert_eq!(
            Key::parse("shift-g"),
            Some(Key::new(KeyCode::Char('G'), KeyModifiers::NONE))
        );
        assert_eq!(
            Key::parse("ctrl-D"),
            Some(Key::new(KeyCode::Char('d'), KeyModifiers::CONTROL))
        );
        assert_eq!(
            Key::parse("space"),
            Some(Key::new(KeyCode::Char(' '), KeyModifiers::NONE))
        );
        assert_eq!(
            Key::parse("shift-tab"),
            Some(Key::new(KeyCode::BackTab, KeyModifiers::SHIFT))
        );
        assert_eq!(Key::parse("F5").map(|k| k.code.0), Some(KeyCode::F(5)));
        assert_eq!(Key::parse("-").map(|k| k.code.0), Some(KeyCode::Char('-')));
        assert_eq!(Key::parse("F13"), None);
        assert_eq!(Key::parse("hyper-x"), None);
        assert_eq!(Key::parse(""), None);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "j", "G", "ctrl-d", "PgDn", "space", "F1", "?", "alt-x", "BackTab",
        ] {
            let key = Key::parse(s).expect("parses");
            assert_eq!(Key::parse(&key.to_string()), Some(key), "{s}");
        }
    }
}
