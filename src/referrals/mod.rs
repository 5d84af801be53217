//! Referrals: sending a migrant to a service provider, and tracking that it happened.

pub mod queries;
