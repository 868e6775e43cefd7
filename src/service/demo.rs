//! Demo data for `serve --demo`: idempotent, realistic, made by the project.
use crate::{
    auth::Principal,
    authz::Access,
    domain::{ids::WorkspaceId, roles::Role, workspace::Environment},
    error::AppResult,
    service::{roles, tenants, workspaces},
    store,
};

use super::AppContext;

/// The demo owner's e-mail.
pub const DEMO_OWNER: &str = "owner@contoso-msp.example";

struct DemoWorkspace {
    name: &'static str,
    slug: &'static str,
    environment: Environment,
    tenants: &'static [(&'static str, &'static str)],
}

const WORKSPACES: &[DemoWorkspace] = &[
    DemoWorkspace {
        name: "Northwind Traders",
        slug: "northwind",
        environment: Environment::Production,
        tenants: &[
            ("Northwind HQ", "3f2b6c1e-8d4a-4b7e-9c55-1a2b3c4d5e6f"),
            ("Northwind Retail", "7a9d0e12-4c3b-4f8a-b6d1-2e3f4a5b6c7d"),
        ],
    },
    DemoWorkspace {
        name: "Fabrikam Pilot",
        slug: "fabrikam-pilot",
        environment: Environment::Staging,
        tenants: &[(
            "Fabrikam Pilot Ring",
            "c4e8a2b6-1d3f-4a5c-8e7b-9f0a1b2c3d4e",
        )],
    },
];

/// Demo export files (made for the project, not real customer data), by relative path.
const DEMO_EXPORT: &[(&str, &str)] = &[
    (
        "SettingsCatalog/NW-BitLocker-OS-Disk.json",
        include_str!("../../demo/exports/northwind-hq/SettingsCatalog/NW-BitLocker-OS-Disk.json"),
    ),
    (
        "CompliancePolicies/NW-Compliance-Password.json",
        include_str!(
            "../../demo/exports/northwind-hq/CompliancePolicies/NW-Compliance-Password.json"
        ),
    ),
    (
        "UpdatePolicies/NW-WUfB-Ring-1-Pilot.json",
        include_str!("../../demo/exports/northwind-hq/UpdatePolicies/NW-WUfB-Ring-1-Pilot.json"),
    ),
    (
        "DeviceConfiguration/NW-Custom-OMA-URI.json",
        include_str!("../../demo/exports/northwind-hq/DeviceConfiguration/NW-Custom-OMA-URI.json"),
    ),
];

/// Writes the demo exports under the import root, points Northwind HQ and Northwind
/// Retail at them and queues their inventory syncs (the server's workers run them). Retail
/// drifts from HQ in one setting (a shorter minimum password length), so a baseline made
/// from HQ and assigned to Retail shows a finding.
async fn seed_demo_inventory(
    app: &AppContext,
    access: &Access,
    workspace: WorkspaceId,
) -> AppResult<()> {
    let root = super::operations::workspace_import_root(app, workspace)
        .await?
        .join("demo");
    for (tenant_name, folder, drifted) in [
        ("Northwind HQ", "northwind-hq", false),
        ("Northwind Retail", "northwind-retail", true),
    ] {
        let dir = root.join(folder);
        for (rel, content) in DEMO_EXPORT {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(crate::error::AppError::internal)?;
            }
            let content = if drifted {
                content.replace(
                    "\"passwordMinimumLength\": 12",
                    "\"passwordMinimumLength\": 8",
                )
            } else {
                content.to_string()
            };
            std::fs::write(&path, content).map_err(crate::error::AppError::internal)?;
        }
        let tenant = {
            let mut conn = app.db.conn().await?;
            store::tenants::find_tenant_by_name(&mut conn, workspace, tenant_name).await?
        };
        let Some(tenant) = tenant else { continue };
        let tenant_id = crate::domain::ids::TenantId(tenant.id);
        super::operations::configure_export_directory(
            app,
            access,
            tenant_id,
            &format!("demo/{folder}"),
        )
        .await?;
        match super::operations::start_inventory_sync(app, access, tenant_id, &[]).await {
            // A sync from an earlier start is still queued: that one will do.
            Ok(_) | Err(crate::error::AppError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Seeds the demo data; running it again changes nothing (a new sync finds no changes).
pub async fn seed_demo(app: &AppContext) -> AppResult<Vec<WorkspaceId>> {
    let access = Access::new(Principal::System("demo"), app.authz.clone());
    let mut ids = Vec::new();
    for demo in WORKSPACES {
        let existing = {
            let mut conn = app.db.conn().await?;
            store::workspaces::find_workspace_by_slug(&mut conn, demo.slug).await?
        };
        let ws = match existing {
            Some(ws) => ws,
            None => {
                workspaces::create_workspace(app, &access, demo.name, demo.slug, demo.environment)
                    .await?
            }
        };
        let id = ws.workspace_id();
        for (name, entra) in demo.tenants {
            let present = {
                let mut conn = app.db.conn().await?;
                let entra =
                    uuid::Uuid::parse_str(entra).map_err(crate::error::AppError::internal)?;
                store::tenants::find_tenant_by_entra_id(&mut conn, id, entra)
                    .await?
                    .is_some()
            };
            if !present {
                tenants::create_tenant(app, &access, id, name, entra).await?;
            }
        }
        roles::grant_role(
            app,
            &access,
            roles::Scope::Workspace(id),
            DEMO_OWNER,
            Role::Owner,
        )
        .await?;
        if demo.slug == "northwind" {
            seed_demo_inventory(app, &access, id).await?;
        }
        ids.push(id);
    }
    Ok(ids)
}
