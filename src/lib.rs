//! Karvon: case management for Migrant Resource Centres.

pub mod audit;
pub mod auth;
pub mod caseloads;
pub mod cases;
pub mod centres;
pub mod config;
pub mod consultations;
pub mod db;
pub mod demo;
pub mod error;
pub mod follow_ups;
pub mod housekeeping;
pub mod http;
pub mod migrants;
pub mod openapi;
pub mod ops;
pub mod providers;
pub mod referrals;
pub mod reports;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod text_enum;
pub mod time;
pub mod users;
pub mod validation;
