//! Users.
use async_graphql::{Object, ID};
use uuid::Uuid;

use super::{
    access, app,
    node::{to_global_id, NodeType},
};
use crate::{
    auth::Principal,
    error::AppResult,
    store::{self, users::UserRow},
};

/// A person, known by the e-mail address in their token.
#[derive(Clone, Debug)]
pub struct User {
    id: Option<Uuid>,
    email: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: Some(row.id),
            email: row.email,
        }
    }
}

impl User {
    /// A user that holds a grant but has no row yet (cannot happen through the services,
    /// which create the row with the grant; kept for rules written by hand).
    pub fn unregistered(email: &str) -> Self {
        Self {
            id: None,
            email: email.to_string(),
        }
    }

    /// `node(id:)` for users: the caller themself, or anyone for platform roles.
    pub async fn load_visible(
        ctx: &async_graphql::Context<'_>,
        id: Uuid,
    ) -> AppResult<Option<Self>> {
        let access = access(ctx);
        let mut conn = app(ctx).db.conn().await?;
        let found = store::users::list_users_by_ids(&mut conn, &[id]).await?;
        let Some(row) = found.into_iter().next() else {
            return Ok(None);
        };
        let is_self =
            matches!(access.principal(), Principal::User { email, .. } if *email == row.email);
        let platform = matches!(access.visibility().await?, crate::authz::Visibility::All);
        Ok((is_self || platform).then(|| row.into()))
    }
}

#[Object]
impl User {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        match self.id {
            Some(id) => to_global_id(NodeType::User, id),
            None => ID(format!("unregistered:{}", self.email)),
        }
    }

    /// The e-mail address; `userId` inputs take it.
    async fn email(&self) -> &str {
        &self.email
    }
}
