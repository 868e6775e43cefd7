//! Newtype ids, so a tenant id can never be passed where a workspace id is expected.
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// A workspace (an MSP customer or business unit).
    WorkspaceId
);
id_type!(
    /// A Microsoft Entra tenant inside a workspace.
    TenantId
);
id_type!(
    /// A user, known by the e-mail in their token.
    UserId
);
id_type!(
    /// One audit event.
    AuditEventId
);

/// The opaque global id of an API object: `base64url("<Type>:<uuid>")`, unpadded. Packs
/// and other exports use it so their ids match the API's.
pub fn global_id(type_name: &str, id: uuid::Uuid) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}"))
}
