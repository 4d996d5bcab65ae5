//! Presets (issue 25, migration 0028): a user's named settings, checked by the server like a
//! job's spec before they are stored here. The operator's templates are configuration, not rows.

use serde_json::Value;

use crate::db::{new_id, with_pool, Db, UnixMillis};
use crate::error::{StoreError, StoreResult};
use crate::jobs::parse_json;

/// A user's preset as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    /// The render spec's settings: a JSON object without script, media or recording.
    pub settings: Value,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

#[derive(sqlx::FromRow)]
struct PresetRow {
    id: String,
    owner_id: String,
    name: String,
    settings_json: String,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, owner_id, name, settings_json, created_at, updated_at";

impl PresetRow {
    fn into_preset(self) -> StoreResult<Preset> {
        Ok(Preset {
            settings: parse_json("preset settings", &self.settings_json)?,
            id: self.id,
            owner_id: self.owner_id,
            name: self.name,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl Db {
    /// Stores a new preset. The caller checked the name and settings; `max` bounds how many one
    /// owner keeps: `None` when they have that many already, and nothing is stored.
    pub async fn create_preset(
        &self,
        owner_id: &str,
        name: &str,
        settings: &Value,
        max: i64,
        now: UnixMillis,
    ) -> StoreResult<Option<Preset>> {
        let id = new_id();
        let settings = settings.to_string();
        // One statement, so two concurrent saves cannot both pass the count.
        let sql =
            "INSERT INTO presets (id, owner_id, name, settings_json, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $5 \
            WHERE (SELECT COUNT(*) FROM presets WHERE owner_id = $2) < $6";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(&id).bind(owner_id).bind(name).bind(&settings).bind(now).bind(max)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Ok(None);
        }
        let preset = self.preset_for_owner(owner_id, &id).await?;
        preset
            .ok_or_else(|| StoreError::Corrupt("stored preset vanished".into()))
            .map(Some)
    }

    /// The owner's preset with this id; `None` for anyone else's (P-SEC-4).
    pub async fn preset_for_owner(&self, owner_id: &str, id: &str) -> StoreResult<Option<Preset>> {
        let sql = format!("SELECT {COLUMNS} FROM presets WHERE id = $1 AND owner_id = $2");
        let row = with_pool!(self, pool => sqlx::query_as::<_, PresetRow>(&sql)
            .bind(id).bind(owner_id).fetch_optional(pool).await)?;
        row.map(PresetRow::into_preset).transpose()
    }

    /// Every preset of the owner, oldest first.
    pub async fn presets_of(&self, owner_id: &str) -> StoreResult<Vec<Preset>> {
        let sql =
            format!("SELECT {COLUMNS} FROM presets WHERE owner_id = $1 ORDER BY created_at, id");
        let rows = with_pool!(self, pool => sqlx::query_as::<_, PresetRow>(&sql)
            .bind(owner_id).fetch_all(pool).await)?;
        rows.into_iter().map(PresetRow::into_preset).collect()
    }

    /// Replaces the owner's preset's name and settings; `None` when not theirs.
    pub async fn update_preset(
        &self,
        owner_id: &str,
        id: &str,
        name: &str,
        settings: &Value,
        now: UnixMillis,
    ) -> StoreResult<Option<Preset>> {
        let sql = "UPDATE presets SET name = $3, settings_json = $4, updated_at = $5 \
            WHERE id = $1 AND owner_id = $2";
        let settings = settings.to_string();
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(owner_id).bind(name).bind(&settings).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Ok(None);
        }
        self.preset_for_owner(owner_id, id).await
    }

    /// Deletes the owner's preset; false when there was none.
    pub async fn delete_preset(&self, owner_id: &str, id: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM presets WHERE id = $1 AND owner_id = $2";
        let n = with_pool!(self, pool => sqlx::query(sql)
            .bind(id).bind(owner_id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
