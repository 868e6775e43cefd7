//! Pure domain logic: no I/O, no async, no database or GraphQL types.
pub mod audit;
pub mod canonical;
pub mod contracts;
pub mod drift;
pub mod evidence;
pub mod exceptions;
pub mod findings;
pub mod ids;
pub mod policy;
pub mod roles;
pub mod secrets;
pub mod workspace;
