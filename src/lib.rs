//! Karvon: case management for Migrant Resource Centres.

pub mod audit;
pub mod auth;
pub mod centres;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod openapi;
pub mod ops;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod users;
pub mod validation;
