//! Pure domain logic: no I/O, no async, no database or GraphQL types.
pub mod audit;
pub mod canonical;
pub mod ids;
pub mod roles;
pub mod workspace;
pub mod contracts;
pub mod policy;
