//! GraphQL API. Resolvers are thin: each names the capability it needs (checked through
//! [`Access`], casbin underneath), then calls loaders or services and maps types.
pub mod audit;
pub mod baseline;
pub mod errors;
pub mod evidence;
pub mod exception;
pub mod finding;
pub mod loaders;
pub mod node;
pub mod operation_run;
pub mod pagination;
pub mod policy;
pub mod roles;
pub mod scalars;
pub mod schema;
pub mod subscription;
pub mod tenant;
pub mod user;
pub mod viewer;
pub mod workspace;

use std::sync::Arc;

use async_graphql::Context;

use crate::{authz::Access, service::AppContext};

pub use schema::{build_schema, schema_sdl, AppSchema};

/// What each request (or WebSocket connection) carries.
pub struct RequestState {
    pub access: Access,
    pub loaders: loaders::Loaders,
}

impl RequestState {
    /// State of one request: loaders cache for the request's lifetime.
    pub fn new(app: &AppContext, access: Access) -> Self {
        let email = access.user_email().ok().map(str::to_string);
        Self {
            loaders: loaders::Loaders::new(&app.db, email),
            access,
        }
    }

    /// State of one HTTP request whose batch fetches run in the request's own task (see
    /// [`loaders::run_with_batches`]).
    pub fn for_request(app: &AppContext, access: Access, spawner: loaders::BatchSpawner) -> Self {
        let email = access.user_email().ok().map(str::to_string);
        Self {
            loaders: loaders::Loaders::with_spawner(&app.db, email, spawner),
            access,
        }
    }

    /// State of a WebSocket connection, which lives for hours: loaders still batch but
    /// never cache, so every operation on the connection reads current data.
    pub fn for_connection(app: &AppContext, access: Access) -> Self {
        let state = Self::new(app, access);
        state.loaders.disable_caches();
        state
    }
}

/// The process-wide context.
pub fn app<'a>(ctx: &Context<'a>) -> &'a Arc<AppContext> {
    // The schema is always built with the context (see `build_schema`).
    ctx.data_unchecked::<Arc<AppContext>>()
}

/// The request's state.
pub fn state<'a>(ctx: &Context<'a>) -> &'a RequestState {
    ctx.data_unchecked::<Arc<RequestState>>()
}

/// The caller's access.
pub fn access<'a>(ctx: &Context<'a>) -> &'a Access {
    &state(ctx).access
}
