//! The `casbin_rule` table: role -> capability rules (`p`) and grants (`g`).
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::Conn;
use crate::{db::schema::casbin_rule, error::AppResult};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = casbin_rule)]
pub struct CasbinRuleRow {
    pub id: i32,
    pub ptype: String,
    pub v0: String,
    pub v1: String,
    pub v2: String,
    pub v3: String,
    pub v4: String,
    pub v5: String,
}

impl CasbinRuleRow {
    /// The rule's values with trailing empty fields dropped, as casbin expects.
    pub fn values(&self) -> Vec<String> {
        let mut v = vec![
            self.v0.clone(),
            self.v1.clone(),
            self.v2.clone(),
            self.v3.clone(),
            self.v4.clone(),
            self.v5.clone(),
        ];
        while v.last().is_some_and(String::is_empty) {
            v.pop();
        }
        v
    }
}

fn field(rule: &[String], i: usize) -> &str {
    rule.get(i).map(String::as_str).unwrap_or("")
}

pub async fn list_rules(conn: &mut Conn) -> AppResult<Vec<CasbinRuleRow>> {
    Ok(casbin_rule::table
        .order_by(casbin_rule::id)
        .select(CasbinRuleRow::as_select())
        .load(conn)
        .await?)
}

/// Inserts a rule; false when it already existed.
pub async fn insert_rule(conn: &mut Conn, ptype: &str, rule: &[String]) -> AppResult<bool> {
    let n = diesel::insert_into(casbin_rule::table)
        .values((
            casbin_rule::ptype.eq(ptype),
            casbin_rule::v0.eq(field(rule, 0)),
            casbin_rule::v1.eq(field(rule, 1)),
            casbin_rule::v2.eq(field(rule, 2)),
            casbin_rule::v3.eq(field(rule, 3)),
            casbin_rule::v4.eq(field(rule, 4)),
            casbin_rule::v5.eq(field(rule, 5)),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Deletes a rule; false when there was none.
pub async fn delete_rule(conn: &mut Conn, ptype: &str, rule: &[String]) -> AppResult<bool> {
    let n = diesel::delete(
        casbin_rule::table
            .filter(casbin_rule::ptype.eq(ptype))
            .filter(casbin_rule::v0.eq(field(rule, 0)))
            .filter(casbin_rule::v1.eq(field(rule, 1)))
            .filter(casbin_rule::v2.eq(field(rule, 2)))
            .filter(casbin_rule::v3.eq(field(rule, 3)))
            .filter(casbin_rule::v4.eq(field(rule, 4)))
            .filter(casbin_rule::v5.eq(field(rule, 5))),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Deletes rules whose fields from `field_index` on equal `values` (empty matches any).
pub async fn delete_filtered(
    conn: &mut Conn,
    ptype: &str,
    field_index: usize,
    values: &[String],
) -> AppResult<bool> {
    let mut query = diesel::delete(casbin_rule::table)
        .filter(casbin_rule::ptype.eq(ptype))
        .into_boxed();
    for (offset, value) in values.iter().enumerate() {
        if value.is_empty() {
            continue;
        }
        let v = value.clone();
        query = match field_index + offset {
            0 => query.filter(casbin_rule::v0.eq(v)),
            1 => query.filter(casbin_rule::v1.eq(v)),
            2 => query.filter(casbin_rule::v2.eq(v)),
            3 => query.filter(casbin_rule::v3.eq(v)),
            4 => query.filter(casbin_rule::v4.eq(v)),
            _ => query.filter(casbin_rule::v5.eq(v)),
        };
    }
    Ok(query.execute(conn).await? > 0)
}

/// Replaces every rule (casbin's `save_policy`), atomically.
pub async fn replace_all(conn: &mut Conn, rules: Vec<(String, Vec<String>)>) -> AppResult<()> {
    conn.transaction::<_, crate::error::AppError, _>(async move |conn| {
        diesel::delete(casbin_rule::table).execute(conn).await?;
        for (ptype, rule) in &rules {
            insert_rule(conn, ptype, rule).await?;
        }
        Ok(())
    })
    .await
}

/// Whether `subject` holds `role` in `domain`.
pub async fn grant_exists(
    conn: &mut Conn,
    subject: &str,
    role: &str,
    domain: &str,
) -> AppResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        casbin_rule::table
            .filter(casbin_rule::ptype.eq("g"))
            .filter(casbin_rule::v0.eq(subject))
            .filter(casbin_rule::v1.eq(role))
            .filter(casbin_rule::v2.eq(domain)),
    ))
    .get_result(conn)
    .await?)
}

/// How many subjects hold `role` in `domain` (to protect the last owner).
pub async fn count_role_holders(conn: &mut Conn, role: &str, domain: &str) -> AppResult<i64> {
    Ok(casbin_rule::table
        .filter(casbin_rule::ptype.eq("g"))
        .filter(casbin_rule::v1.eq(role))
        .filter(casbin_rule::v2.eq(domain))
        .count()
        .get_result(conn)
        .await?)
}
