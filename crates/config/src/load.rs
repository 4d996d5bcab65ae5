//! Building the effective configuration from its layers, later ones winning: built-in defaults,
//! the TOML file, `REELSMITH__SECTION__KEY` environment variables, then explicit overrides (the
//! command line's flags). Every value is attributed to the layer that set it, so an error names the
//! file, variable or flag to fix.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use reelsmith_core::{Code, ErrorCode};

use crate::sections::{Config, CONFIG_FILE_NAME, DEFAULT_DATA_DIR};

/// Environment variables that configure Reelsmith start with this; `__` separates the path.
pub const ENV_PREFIX: &str = "REELSMITH__";
const ENV_LAYER: &str = "environment variable";
const FLAG_LAYER: &str = "command-line flag";

/// Keys whose values are secrets: an error about one of them never quotes what was given.
const SECRET_KEYS: &[&str] = &[
    "database.url",
    "storage.s3.secret_access_key",
    "email.smtp.password",
];

/// Where the configuration comes from, besides the built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config PATH`: must exist. Unset: `<data_dir>/reelsmith.toml`, used only if present.
    pub config_file: Option<PathBuf>,
    /// Environment variables as (name, value); those not starting with `REELSMITH__` are ignored.
    pub env: Vec<(String, String)>,
    /// Flag values as (dotted key, value), e.g. `("server.listen", "0.0.0.0:80")`.
    pub overrides: Vec<(String, String)>,
}

impl Sources {
    /// The process's own environment, no file named and no overrides. Variables whose name or
    /// value is not UTF-8 are skipped (`std::env::vars` would panic on them); none of ours is.
    pub fn from_process_env() -> Sources {
        Sources {
            config_file: None,
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            overrides: Vec::new(),
        }
    }

    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Sources {
        self.config_file = Some(path.into());
        self
    }

    pub fn with_override(mut self, key: &str, value: impl Into<String>) -> Sources {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {} cannot be read: {source}", .path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {} is not valid TOML at line {line}, column {column}: {message}", .path.display())]
    FileSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "environment variable {name} does not name a setting: expected REELSMITH__SECTION__KEY"
    )]
    BadEnvName { name: String },
    #[error("flag key `{key}` does not name a setting: expected section.key")]
    BadOverrideKey { key: String },
    #[error("unknown setting `{key}` (from {origin})")]
    UnknownKey { key: String, origin: String },
    #[error("setting `{key}` (from {origin}): {message}")]
    InvalidValue {
        key: String,
        origin: String,
        message: String,
    },
    #[error("invalid configuration:\n{}", format_problems(.0))]
    Invalid(Vec<crate::validate::Problem>),
}

fn format_problems(problems: &[crate::validate::Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ErrorCode for ConfigError {
    fn code(&self) -> Code {
        match self {
            ConfigError::FileUnreadable { .. } => Code::ConfigFileUnreadable,
            ConfigError::FileSyntax { .. } => Code::ConfigSyntax,
            ConfigError::BadEnvName { .. } | ConfigError::BadOverrideKey { .. } => {
                Code::ConfigBadKey
            }
            ConfigError::UnknownKey { .. } => Code::ConfigUnknownKey,
            ConfigError::InvalidValue { .. } => Code::ConfigInvalidValue,
            ConfigError::Invalid(_) => Code::ConfigInvalid,
        }
    }

    /// Configuration is the operator's, never a request's.
    fn is_client_error(&self) -> bool {
        false
    }
}

impl Config {
    /// Loads the effective configuration. It is not validated: see [`Config::validate`] and
    /// [`Config::load_validated`].
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let env = string_layer(ENV_LAYER, env_entries(&sources.env)?);
        let flags = string_layer(FLAG_LAYER, override_entries(&sources.overrides)?);
        let base = Serialized::defaults(Config::default());

        // The data folder decides where the implicit configuration file and every data-relative
        // default live, so it is settled first from the layers that can be read without it.
        let explicit_file = match &sources.config_file {
            Some(path) => Some(read_toml_file(path)?),
            None => None,
        };
        let data_dir = data_dir_of(stack(base.clone(), explicit_file.as_ref(), &env, &flags))?;
        let file = match explicit_file {
            Some(file) => Some(file),
            None => {
                let implicit = data_dir.join(CONFIG_FILE_NAME);
                if implicit.is_file() {
                    Some(read_toml_file(&implicit)?)
                } else {
                    None
                }
            }
        };
        // The implicit file may itself move the data folder; derived defaults follow it.
        let data_dir = data_dir_of(stack(base, file.as_ref(), &env, &flags))?;
        let defaults = Serialized::defaults(Config::defaults_for(&data_dir));
        stack(defaults, file.as_ref(), &env, &flags)
            .extract_lossy::<Config>()
            .map_err(from_figment)
    }

    /// Loads, then refuses a configuration that has any problem, listing them all.
    pub fn load_validated(sources: &Sources) -> Result<Config, ConfigError> {
        let config = Config::load(sources)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The effective configuration as TOML, secrets masked: what `reelsmith config check` prints.
    /// Besides the secret fields, any setting holding a URL with a password in it
    /// (`https://user:password@host`, a provider's `base_url`, an S3 endpoint) shows the password
    /// masked: people paste credentials into URLs, whatever the field is meant for.
    pub fn to_masked_toml(&self) -> String {
        // Serialising cannot fail: every field is a string, number, bool, path or table, and the
        // secret types serialise as their mask.
        let text = match toml::to_string_pretty(self) {
            Ok(text) => text,
            Err(e) => return format!("# the configuration cannot be shown: {e}\n"),
        };
        match text.parse::<toml_edit::DocumentMut>() {
            Ok(mut doc) => {
                mask_url_passwords_in_table(doc.as_table_mut());
                doc.to_string()
            }
            // What toml just wrote always parses; should it not, mask line by line rather than
            // show a password.
            Err(_) => text
                .lines()
                .map(|line| crate::secret::redact_url_password(line) + "\n")
                .collect(),
        }
    }
}

fn mask_url_passwords_in_table(table: &mut toml_edit::Table) {
    for (_, item) in table.iter_mut() {
        mask_url_passwords_in_item(item);
    }
}

fn mask_url_passwords_in_item(item: &mut toml_edit::Item) {
    match item {
        toml_edit::Item::Value(value) => mask_url_passwords_in_value(value),
        toml_edit::Item::Table(table) => mask_url_passwords_in_table(table),
        toml_edit::Item::ArrayOfTables(tables) => {
            for table in tables.iter_mut() {
                mask_url_passwords_in_table(table);
            }
        }
        toml_edit::Item::None => {}
    }
}

fn mask_url_passwords_in_value(value: &mut toml_edit::Value) {
    match value {
        toml_edit::Value::String(text) => {
            let masked = crate::secret::redact_url_password(text.value());
            if masked != *text.value() {
                let decor = text.decor().clone();
                let mut replaced = toml_edit::Formatted::new(masked);
                *replaced.decor_mut() = decor;
                *text = replaced;
            }
        }
        toml_edit::Value::Array(array) => {
            for value in array.iter_mut() {
                mask_url_passwords_in_value(value);
            }
        }
        toml_edit::Value::InlineTable(table) => {
            for (_, value) in table.iter_mut() {
                mask_url_passwords_in_value(value);
            }
        }
        _ => {}
    }
}

fn stack<P: Provider>(
    defaults: P,
    file: Option<&TomlFile>,
    env: &StringLayer,
    flags: &StringLayer,
) -> Figment {
    let mut figment = Figment::from(defaults);
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(&file.path));
    }
    figment.merge(env.clone()).merge(flags.clone())
}

fn data_dir_of(figment: Figment) -> Result<PathBuf, ConfigError> {
    match figment.extract_inner_lossy::<PathBuf>("server.data_dir") {
        Ok(dir) => Ok(dir),
        Err(error) if error.missing() => Ok(PathBuf::from(DEFAULT_DATA_DIR)),
        Err(error) => Err(from_figment(error)),
    }
}

/// A configuration file already read and checked to be well-formed TOML, so that figment's own
/// parse (which quotes the offending line, possibly a password) never reports a syntax error.
struct TomlFile {
    path: PathBuf,
}

fn read_toml_file(path: &Path) -> Result<TomlFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::FileUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    if let Err(error) = text.parse::<toml::Table>() {
        let (line, column) = error
            .span()
            .map(|span| line_and_column(&text, span.start))
            .unwrap_or((0, 0));
        return Err(ConfigError::FileSyntax {
            path: path.to_path_buf(),
            line,
            column,
            message: error.message().trim().to_owned(),
        });
    }
    Ok(TomlFile {
        path: path.to_path_buf(),
    })
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// One setting given as text by a layer, with the name the operator wrote it under.
#[derive(Debug, Clone)]
struct StringEntry {
    path: Vec<String>,
    value: String,
}

/// A layer of settings given as text (environment variables, flags). Values stay strings; the
/// lossy extraction turns `"8080"` or `"true"` into a number or a bool only where the setting is
/// one, so a string setting such as a password `007` keeps its leading zeros.
#[derive(Debug, Clone)]
struct StringLayer {
    name: &'static str,
    entries: Vec<StringEntry>,
}

fn string_layer(name: &'static str, entries: Vec<StringEntry>) -> StringLayer {
    StringLayer { name, entries }
}

impl Provider for StringLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for entry in &self.entries {
            insert_path(&mut root, &entry.path, Value::from(entry.value.clone()));
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(child, Value::Dict(..)) {
                *child = Value::from(Dict::new());
            }
            if let Value::Dict(_, child) = child {
                insert_path(child, rest, value);
            }
        }
    }
}

fn env_entries(vars: &[(String, String)]) -> Result<Vec<StringEntry>, ConfigError> {
    let mut entries = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(|segment| segment.is_empty()) {
            return Err(ConfigError::BadEnvName { name: name.clone() });
        }
        entries.push(StringEntry {
            path,
            value: value.clone(),
        });
    }
    Ok(entries)
}

fn override_entries(overrides: &[(String, String)]) -> Result<Vec<StringEntry>, ConfigError> {
    overrides
        .iter()
        .map(|(key, value)| {
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            if path.iter().any(|segment| segment.is_empty()) {
                return Err(ConfigError::BadOverrideKey { key: key.clone() });
            }
            Ok(StringEntry {
                path,
                value: value.clone(),
            })
        })
        .collect()
}

/// The name an operator would look for: the variable, the flag key or the file.
fn origin_of(metadata: Option<&Metadata>, key: &str) -> String {
    let Some(metadata) = metadata else {
        return "built-in defaults".into();
    };
    match metadata.name.as_ref() {
        ENV_LAYER => format!(
            "environment variable {ENV_PREFIX}{}",
            key.split('.')
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
                .join("__")
        ),
        FLAG_LAYER => format!("command-line flag for `{key}`"),
        _ => match &metadata.source {
            Some(figment::Source::File(path)) => format!("file {}", path.display()),
            _ => metadata.name.to_string(),
        },
    }
}

/// Turns figment's first error into ours, naming the key and where it came from. String values
/// are never quoted: a secret written under the wrong key (`smtp = "password"` for
/// `smtp.password`) would otherwise be echoed into logs.
fn from_figment(error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let mut path = error.path.clone();
    if let Kind::UnknownField(field, _) = &error.kind {
        // figment sometimes already ends the path with the unknown field, sometimes not.
        if path.last() != Some(field) {
            path.push(field.clone());
        }
        let key = path.join(".");
        let origin = origin_of(error.metadata.as_ref(), &key);
        return ConfigError::UnknownKey { key, origin };
    }
    let key = path.join(".");
    let origin = origin_of(error.metadata.as_ref(), &key);
    let message = if SECRET_KEYS.contains(&key.as_str()) {
        "invalid value (not shown: it is a secret)".to_owned()
    } else {
        describe_kind(&error.kind)
    };
    ConfigError::InvalidValue {
        key,
        origin,
        message,
    }
}

fn describe_kind(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let describe = |actual: &Actual| match actual {
        Actual::Str(_) => "a string".to_owned(),
        other => other.to_string(),
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", describe(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value ({}): expected {expected}", describe(actual))
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value: expected one of {}", expected.join(", "))
        }
        other => other.to_string(),
    }
}
