//! Every statement the engine sends to PostgreSQL, and the decoding of what comes back. The
//! rest of the engine decides in plain code and reads and writes through these functions, so
//! the `saga` schema (and what the engine reads of apalis's) is spelt out here only.
//!
//! - `drive`: starting, claiming, fencing and moving instances, and their attempts.
//! - `operate`: what operators' moves read and write, and their audit.
//! - `read`: what operators and hosts read.
//! - `sweep`: instances nobody drives any more, and the queue's age.

mod drive;
mod operate;
mod read;
mod sweep;

pub(crate) use drive::*;
pub(crate) use operate::*;
pub(crate) use read::*;
pub(crate) use sweep::*;

use saga_core::{AttemptOutcome, InstanceState, Phase, Position};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::Error;

/// An instance's position, from a row with its state, step, phase, attempts and failure.
fn position_of(row: &PgRow) -> Result<Position, Error> {
    Ok(Position {
        state: state_of(row.get("state"))?,
        step: row.get::<i32, _>("step").max(0) as usize,
        phase: phase_of(row.get("phase"))?,
        attempts: row.get::<i32, _>("attempts").max(0) as u32,
        failure: row.get("failure"),
        public_failure: row.get("public_failure"),
    })
}

fn state_of(text: String) -> Result<InstanceState, Error> {
    InstanceState::parse(&text).ok_or_else(|| Error::Corrupt(format!("unknown state {text:?}")))
}

fn phase_of(text: String) -> Result<Phase, Error> {
    Phase::parse(&text).ok_or_else(|| Error::Corrupt(format!("unknown phase {text:?}")))
}

fn outcome_of(text: String) -> Result<AttemptOutcome, Error> {
    AttemptOutcome::parse(&text).ok_or_else(|| Error::Corrupt(format!("unknown attempt outcome {text:?}")))
}
