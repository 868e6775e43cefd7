//! casbin adapter over the diesel-async pool: rules live in the `casbin_rule` table.
use async_trait::async_trait;
use casbin::{error::AdapterError, Adapter, Filter, Model};

use crate::{db::Db, store};

/// Reads and writes casbin rules in PostgreSQL.
pub struct DieselAdapter {
    db: Db,
}

impl DieselAdapter {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn adapter_err(e: impl std::fmt::Display) -> casbin::Error {
    casbin::Error::AdapterError(AdapterError(e.to_string().into()))
}

#[async_trait]
impl Adapter for DieselAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        let rules = store::casbin_rules::list_rules(&mut conn)
            .await
            .map_err(adapter_err)?;
        for rule in rules {
            let sec = rule
                .ptype
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default();
            let values = rule.values();
            if let Some(ast_map) = m.get_mut_model().get_mut(&sec) {
                if let Some(ast) = ast_map.get_mut(&rule.ptype) {
                    ast.get_mut_policy().insert(values);
                }
            }
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        // Filtering is not used: the rule set is small and loaded whole at start.
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let mut rules = Vec::new();
        for sec in ["p", "g"] {
            if let Some(ast_map) = m.get_model().get(sec) {
                for (ptype, ast) in ast_map {
                    for rule in ast.get_policy() {
                        rules.push((ptype.clone(), rule.clone()));
                    }
                }
            }
        }
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        store::casbin_rules::replace_all(&mut conn, rules)
            .await
            .map_err(adapter_err)
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        store::casbin_rules::replace_all(&mut conn, Vec::new())
            .await
            .map_err(adapter_err)
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        store::casbin_rules::insert_rule(&mut conn, ptype, &rule)
            .await
            .map_err(adapter_err)
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        let mut any = false;
        for rule in rules {
            any |= store::casbin_rules::insert_rule(&mut conn, ptype, &rule)
                .await
                .map_err(adapter_err)?;
        }
        Ok(any)
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        store::casbin_rules::delete_rule(&mut conn, ptype, &rule)
            .await
            .map_err(adapter_err)
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        let mut any = false;
        for rule in rules {
            any |= store::casbin_rules::delete_rule(&mut conn, ptype, &rule)
                .await
                .map_err(adapter_err)?;
        }
        Ok(any)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        field_index: usize,
        field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        let mut conn = self.db.conn().await.map_err(adapter_err)?;
        store::casbin_rules::delete_filtered(&mut conn, ptype, field_index, &field_values)
            .await
            .map_err(adapter_err)
    }
}
