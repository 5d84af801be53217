//! Follow-ups: the calls and visits that check a migrant got what they needed.

pub mod queries;
