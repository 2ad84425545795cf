//! OAuth scope strings of the standards this service implements.

/// ASTM F3548-21 strategic coordination: operational intents.
pub const STRATEGIC_COORDINATION: &str = "utm.strategic_coordination";
/// ASTM F3548-21 constraint management: creating/modifying constraints.
pub const CONSTRAINT_MANAGEMENT: &str = "utm.constraint_management";
/// ASTM F3548-21 constraint processing: reading constraints.
pub const CONSTRAINT_PROCESSING: &str = "utm.constraint_processing";
/// ASTM F3548-21 conformance monitoring for situational awareness.
pub const CONFORMANCE_MONITORING_SA: &str = "utm.conformance_monitoring_sa";
/// ASTM F3548-21 availability arbitration: setting USS availability.
pub const AVAILABILITY_ARBITRATION: &str = "utm.availability_arbitration";

/// ASTM F3411 remote ID service provider.
pub const RID_SERVICE_PROVIDER: &str = "rid.service_provider";
/// ASTM F3411 remote ID display provider.
pub const RID_DISPLAY_PROVIDER: &str = "rid.display_provider";
/// ASTM F3411-19 (v19 API) write access to identification service areas.
pub const DSS_WRITE_IDENTIFICATION_SERVICE_AREAS: &str = "dss.write.identification_service_areas";
/// ASTM F3411-19 (v19 API) read access to identification service areas.
pub const DSS_READ_IDENTIFICATION_SERVICE_AREAS: &str = "dss.read.identification_service_areas";

/// All ASTM F3548-21 scopes.
pub const F3548: &[&str] = &[
    STRATEGIC_COORDINATION,
    CONSTRAINT_MANAGEMENT,
    CONSTRAINT_PROCESSING,
    CONFORMANCE_MONITORING_SA,
    AVAILABILITY_ARBITRATION,
];

/// All ASTM F3411 scopes (v19 and v22a).
pub const F3411: &[&str] = &[
    RID_SERVICE_PROVIDER,
    RID_DISPLAY_PROVIDER,
    DSS_WRITE_IDENTIFICATION_SERVICE_AREAS,
    DSS_READ_IDENTIFICATION_SERVICE_AREAS,
];
