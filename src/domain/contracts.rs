//! The contract registry: the Intune Graph collections TenantAtlas understands.
//!
//! Each contract names its collection path (also `Policy.contractType` in the API), how a
//! payload is recognised (`@odata.context`, `@odata.type`, export folder name), which field
//! holds the display name, the platform, and which fields are identity or server metadata
//! and therefore never configuration.
use serde_json::Value;

/// Where a contract's platform comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformRule {
    /// Always this platform.
    Fixed(&'static str),
    /// From a payload field (settings catalog: `platforms`, e.g. `windows10`).
    Field(&'static str),
    /// From the `@odata.type` prefix (`windows…`, `ios…`, `macOS…`, `android…`, `aosp…`).
    FromOdataType,
}

/// One Intune Graph collection.
#[derive(Clone, Copy, Debug)]
pub struct Contract {
    /// Graph collection path, e.g. `deviceManagement/configurationPolicies`.
    pub collection: &'static str,
    /// Human label.
    pub label: &'static str,
    /// `@odata.type` values (without `#microsoft.graph.`) that belong here.
    pub odata_types: &'static [&'static str],
    /// `@odata.type` suffixes that belong here (after exact matches of all contracts).
    pub odata_suffixes: &'static [&'static str],
    /// Export folder names (IntuneManagement and similar tools) holding this contract.
    pub folders: &'static [&'static str],
    /// Field with the display name.
    pub name_field: &'static str,
    pub platform: PlatformRule,
    /// Contract-specific metadata fields, in addition to [`COMMON_METADATA`].
    pub metadata: &'static [&'static str],
    /// Sub-kinds worth naming, by `@odata.type`: (type, label).
    pub variants: &'static [(&'static str, &'static str)],
    /// Settings catalog style (`settings[].settingInstance`) rather than classic properties.
    pub settings_catalog: bool,
}

/// Identity and server-managed fields of every contract: never configuration.
/// `roleScopeTagIds` are scope (who may administer), not configuration, and differ between
/// tenants; `assignments` are kept separately (see `Policy.assignments`).
pub const COMMON_METADATA: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "modifiedDateTime",
    "version",
    "roleScopeTagIds",
    "supportsScopeTags",
    "settingCount",
    "creationSource",
    "priorityMetaData",
    "isAssigned",
    "assignments",
    "settings@odata.context",
    "deviceStatusOverview",
    "userStatusOverview",
    "deviceStatuses",
    "userStatuses",
    "deviceSettingStateSummaries",
    "scheduledActionsForRule@odata.context",
];

const MS: &str = "#microsoft.graph.";

/// Every contract the product understands.
pub const CONTRACTS: &[Contract] = &[
    Contract {
        collection: "deviceManagement/configurationPolicies",
        label: "Settings catalog",
        odata_types: &["deviceManagementConfigurationPolicy"],
        odata_suffixes: &[],
        folders: &[
            "SettingsCatalog",
            "ConfigurationPolicies",
            "Settings Catalog",
        ],
        name_field: "name",
        platform: PlatformRule::Field("platforms"),
        metadata: &["templateReference@odata.type"],
        variants: &[],
        settings_catalog: true,
    },
    Contract {
        collection: "deviceManagement/compliancePolicies",
        label: "Compliance (settings catalog)",
        odata_types: &["deviceManagementCompliancePolicy"],
        odata_suffixes: &[],
        folders: &["CompliancePoliciesV2", "CompliancePolicies V2"],
        name_field: "name",
        platform: PlatformRule::Field("platforms"),
        metadata: &[],
        variants: &[],
        settings_catalog: true,
    },
    Contract {
        collection: "deviceManagement/deviceCompliancePolicies",
        label: "Compliance policy",
        odata_types: &[],
        odata_suffixes: &["CompliancePolicy"],
        folders: &["CompliancePolicies", "Compliance"],
        name_field: "displayName",
        platform: PlatformRule::FromOdataType,
        metadata: &["scheduledActionsForRule@odata.context"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceConfigurations",
        label: "Device configuration",
        odata_types: &[],
        odata_suffixes: &["Configuration", "Profile", "CustomConfiguration"],
        folders: &[
            "DeviceConfiguration",
            "DeviceConfigurations",
            "UpdatePolicies",
            "UpdateRings",
        ],
        name_field: "displayName",
        platform: PlatformRule::FromOdataType,
        metadata: &[],
        variants: &[
            (
                "windowsUpdateForBusinessConfiguration",
                "Windows update ring",
            ),
            ("windows10CustomConfiguration", "Custom (OMA-URI)"),
            ("iosUpdateConfiguration", "iOS update policy"),
        ],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/windowsDriverUpdateProfiles",
        label: "Windows driver updates",
        odata_types: &["windowsDriverUpdateProfile"],
        odata_suffixes: &[],
        folders: &[
            "DriverUpdateProfiles",
            "DriverUpdates",
            "WindowsDriverUpdates",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["inventorySyncStatus", "newUpdates", "deviceReporting"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/windowsFeatureUpdateProfiles",
        label: "Windows feature updates",
        odata_types: &["windowsFeatureUpdateProfile"],
        odata_suffixes: &[],
        folders: &[
            "FeatureUpdates",
            "FeatureUpdateProfiles",
            "WindowsFeatureUpdates",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["deployableContentDisplayName", "endOfSupportDate"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/windowsQualityUpdateProfiles",
        label: "Windows quality updates",
        odata_types: &["windowsQualityUpdateProfile"],
        odata_suffixes: &[],
        folders: &[
            "QualityUpdates",
            "QualityUpdateProfiles",
            "WindowsQualityUpdates",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["deployableContentDisplayName", "releaseDateDisplayName"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/groupPolicyConfigurations",
        label: "Administrative templates",
        odata_types: &["groupPolicyConfiguration"],
        odata_suffixes: &[],
        folders: &["AdministrativeTemplates", "GroupPolicyConfigurations"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["policyConfigurationIngestionType"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceManagementScripts",
        label: "PowerShell scripts",
        odata_types: &["deviceManagementScript"],
        odata_suffixes: &[],
        folders: &["Scripts", "PowerShellScripts", "DeviceManagementScripts"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceHealthScripts",
        label: "Remediations",
        odata_types: &["deviceHealthScript"],
        odata_suffixes: &[],
        folders: &[
            "Remediations",
            "ProactiveRemediations",
            "DeviceHealthScripts",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["highestAvailableVersion", "isGlobalScript"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceShellScripts",
        label: "macOS shell scripts",
        odata_types: &["deviceShellScript"],
        odata_suffixes: &[],
        folders: &["MacScripts", "ShellScripts", "DeviceShellScripts"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("macOS"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceCustomAttributeShellScripts",
        label: "macOS custom attributes",
        odata_types: &["deviceCustomAttributeShellScript"],
        odata_suffixes: &[],
        folders: &["CustomAttributes", "MacCustomAttributes"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("macOS"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/intents",
        label: "Endpoint security (intents)",
        odata_types: &["deviceManagementIntent"],
        odata_suffixes: &[],
        folders: &["EndpointSecurity", "Intents"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["isMigratingToConfigurationPolicy"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/deviceEnrollmentConfigurations",
        label: "Enrollment configurations",
        odata_types: &[
            "windows10EnrollmentCompletionPageConfiguration",
            "deviceEnrollmentPlatformRestrictionsConfiguration",
            "deviceEnrollmentPlatformRestrictionConfiguration",
            "deviceEnrollmentLimitConfiguration",
            "deviceEnrollmentWindowsHelloForBusinessConfiguration",
            "deviceComanagementAuthorityConfiguration",
        ],
        odata_suffixes: &["EnrollmentConfiguration"],
        folders: &[
            "EnrollmentRestrictions",
            "EnrollmentStatusPage",
            "DeviceEnrollmentConfigurations",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("all"),
        metadata: &["priority"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/windowsAutopilotDeploymentProfiles",
        label: "Autopilot profiles",
        odata_types: &[
            "azureADWindowsAutopilotDeploymentProfile",
            "activeDirectoryWindowsAutopilotDeploymentProfile",
        ],
        odata_suffixes: &["AutopilotDeploymentProfile"],
        folders: &[
            "AutoPilot",
            "Autopilot",
            "WindowsAutopilotDeploymentProfiles",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["managementServiceAppId"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/assignmentFilters",
        label: "Assignment filters",
        odata_types: &["deviceAndAppManagementAssignmentFilter"],
        odata_suffixes: &[],
        folders: &["AssignmentFilters", "Filters"],
        name_field: "displayName",
        platform: PlatformRule::Field("platform"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/termsAndConditions",
        label: "Terms and conditions",
        odata_types: &["termsAndConditions"],
        odata_suffixes: &[],
        folders: &["TermsAndConditions"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("all"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceManagement/notificationMessageTemplates",
        label: "Compliance notifications",
        odata_types: &["notificationMessageTemplate"],
        odata_suffixes: &[],
        folders: &["Notifications", "NotificationMessageTemplates"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("all"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/iosManagedAppProtections",
        label: "iOS app protection",
        odata_types: &["iosManagedAppProtection"],
        odata_suffixes: &[],
        folders: &["AppProtection", "iosManagedAppProtections"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("ios"),
        metadata: &["deployedAppCount", "isAssigned"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/androidManagedAppProtections",
        label: "Android app protection",
        odata_types: &["androidManagedAppProtection"],
        odata_suffixes: &[],
        folders: &["AppProtection", "androidManagedAppProtections"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("android"),
        metadata: &["deployedAppCount"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/windowsManagedAppProtections",
        label: "Windows app protection",
        odata_types: &["windowsManagedAppProtection"],
        odata_suffixes: &[],
        folders: &["AppProtection", "windowsManagedAppProtections"],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &["deployedAppCount"],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/mdmWindowsInformationProtectionPolicies",
        label: "Windows Information Protection (MDM)",
        odata_types: &["mdmWindowsInformationProtectionPolicy"],
        odata_suffixes: &[],
        folders: &[
            "WindowsInformationProtection",
            "mdmWindowsInformationProtectionPolicies",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("windows"),
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/mobileAppConfigurations",
        label: "App configuration (managed devices)",
        odata_types: &[
            "iosMobileAppConfiguration",
            "androidManagedStoreAppConfiguration",
        ],
        odata_suffixes: &["MobileAppConfiguration"],
        folders: &[
            "AppConfiguration",
            "AppConfigurationManagedDevices",
            "MobileAppConfigurations",
        ],
        name_field: "displayName",
        platform: PlatformRule::FromOdataType,
        metadata: &[],
        variants: &[],
        settings_catalog: false,
    },
    Contract {
        collection: "deviceAppManagement/targetedManagedAppConfigurations",
        label: "App configuration (managed apps)",
        odata_types: &["targetedManagedAppConfiguration"],
        odata_suffixes: &[],
        folders: &[
            "AppConfigurationManagedApps",
            "TargetedManagedAppConfigurations",
        ],
        name_field: "displayName",
        platform: PlatformRule::Fixed("all"),
        metadata: &["deployedAppCount", "isAssigned"],
        variants: &[],
        settings_catalog: false,
    },
];

/// The contract with this collection path.
pub fn find_contract(collection: &str) -> Option<&'static Contract> {
    CONTRACTS.iter().find(|c| c.collection == collection)
}

/// The contracts an export folder name stands for (case-insensitive).
pub fn contracts_for_folder(folder: &str) -> Vec<&'static Contract> {
    CONTRACTS
        .iter()
        .filter(|c| c.folders.iter().any(|f| f.eq_ignore_ascii_case(folder)))
        .collect()
}

fn bare_odata_type(payload: &Value) -> Option<&str> {
    payload
        .get("@odata.type")
        .and_then(Value::as_str)
        .map(|t| t.strip_prefix(MS).unwrap_or(t.trim_start_matches('#')))
}

/// The collection named by `@odata.context`, e.g.
/// `https://graph.microsoft.com/beta/$metadata#deviceManagement/deviceConfigurations(assignments())/$entity`.
fn context_collection(payload: &Value) -> Option<&str> {
    let ctx = payload.get("@odata.context").and_then(Value::as_str)?;
    let after = ctx.split_once("$metadata#")?.1;
    // The collection is "segment/segment" up to '(' or "/$entity".
    let trimmed = after.split('(').next().unwrap_or(after);
    let trimmed = trimmed.strip_suffix("/$entity").unwrap_or(trimmed);
    Some(trimmed)
}

/// Recognises a payload: `@odata.context` first, then `@odata.type` (exact, then suffix),
/// then the folder it was found in.
pub fn classify(payload: &Value, folder: Option<&str>) -> Option<&'static Contract> {
    if let Some(collection) = context_collection(payload) {
        if let Some(c) = CONTRACTS.iter().find(|c| c.collection == collection) {
            return Some(c);
        }
    }
    let folder_contracts = folder.map(contracts_for_folder).unwrap_or_default();
    if let Some(t) = bare_odata_type(payload) {
        // Exact type match, preferring contracts of the folder when several share a folder.
        if let Some(c) = CONTRACTS.iter().find(|c| c.odata_types.contains(&t)) {
            return Some(c);
        }
        let by_suffix = |c: &&Contract| c.odata_suffixes.iter().any(|s| t.ends_with(s));
        if let Some(c) = folder_contracts.iter().copied().find(|c| by_suffix(c)) {
            return Some(c);
        }
        return CONTRACTS.iter().find(by_suffix);
    }
    // No type at all: only an unambiguous folder says what it is.
    match folder_contracts.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The payload's display name.
pub fn display_name(contract: &Contract, payload: &Value) -> Option<String> {
    payload
        .get(contract.name_field)
        .or_else(|| payload.get("displayName"))
        .or_else(|| payload.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The payload's platform.
pub fn platform(contract: &Contract, payload: &Value) -> String {
    match contract.platform {
        PlatformRule::Fixed(p) => p.to_string(),
        PlatformRule::Field(f) => payload
            .get(f)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| "unknown".into()),
        PlatformRule::FromOdataType => {
            let t = bare_odata_type(payload).unwrap_or("").to_ascii_lowercase();
            let p = if t.starts_with("windows")
                || t.starts_with("win32")
                || t.starts_with("sharedpc")
                || t.starts_with("editionupgrade")
            {
                "windows"
            } else if t.starts_with("ios") {
                "ios"
            } else if t.starts_with("macos") {
                "macOS"
            } else if t.starts_with("android") || t.starts_with("aosp") {
                "android"
            } else {
                "unknown"
            };
            p.to_string()
        }
    }
}

/// The named sub-kind of a payload, e.g. "Windows update ring".
pub fn variant(contract: &Contract, payload: &Value) -> Option<&'static str> {
    variant_of_type(
        contract,
        payload.get("@odata.type").and_then(Value::as_str)?,
    )
}

/// [`variant`] from the `@odata.type` value alone (`#microsoft.graph.…`).
pub fn variant_of_type(contract: &Contract, odata_type: &str) -> Option<&'static str> {
    let t = odata_type
        .strip_prefix(MS)
        .unwrap_or(odata_type.trim_start_matches('#'));
    contract
        .variants
        .iter()
        .find(|(ty, _)| *ty == t)
        .map(|(_, label)| *label)
}

/// Whether a top-level field is identity or metadata for `contract`.
pub fn is_metadata_field(contract: &Contract, key: &str) -> bool {
    key.starts_with('@')
        || key.contains("@odata.")
        || key.starts_with('#')
        || COMMON_METADATA.contains(&key)
        || contract.metadata.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_registry_is_large_and_unique() {
        assert!(CONTRACTS.len() >= 20);
        let mut paths: Vec<_> = CONTRACTS.iter().map(|c| c.collection).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), CONTRACTS.len());
    }

    #[test]
    fn payloads_are_recognised_by_context_type_and_folder() {
        let ring = json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/deviceConfigurations(assignments())/$entity",
            "@odata.type": "#microsoft.graph.windowsUpdateForBusinessConfiguration",
        });
        let c = classify(&ring, Some("UpdatePolicies")).unwrap();
        assert_eq!(c.collection, "deviceManagement/deviceConfigurations");
        assert_eq!(variant(c, &ring), Some("Windows update ring"));
        assert_eq!(platform(c, &ring), "windows");

        let compliance = json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy"});
        assert_eq!(
            classify(&compliance, None).unwrap().collection,
            "deviceManagement/deviceCompliancePolicies"
        );
        let sc = json!({"@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicy", "platforms": "windows10"});
        let c = classify(&sc, None).unwrap();
        assert_eq!(c.collection, "deviceManagement/configurationPolicies");
        assert_eq!(platform(c, &sc), "windows10");
        assert_eq!(
            classify(&json!({"name": "x"}), Some("SettingsCatalog"))
                .unwrap()
                .collection,
            "deviceManagement/configurationPolicies"
        );
        assert!(classify(
            &json!({"@odata.type": "#microsoft.graph.somethingElse"}),
            None
        )
        .is_none());
        assert!(
            classify(&json!({"name": "x"}), Some("AppProtection")).is_none(),
            "ambiguous folder"
        );
    }

    #[test]
    fn metadata_fields_are_known() {
        let c = find_contract("deviceManagement/configurationPolicies").unwrap();
        for k in [
            "id",
            "createdDateTime",
            "settingCount",
            "roleScopeTagIds",
            "@odata.type",
            "platforms@odata.type",
            "#microsoft.graph.assign",
        ] {
            assert!(is_metadata_field(c, k), "{k}");
        }
        assert!(!is_metadata_field(c, "platforms"));
        assert!(!is_metadata_field(c, "passwordMinimumLength"));
    }
}
