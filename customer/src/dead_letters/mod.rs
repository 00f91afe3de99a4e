//! Dead letters: the order events customer could not apply, for operators to replay after a
//! fix or discard with a reason. The broker dead-letters them to `<queue>.dead`; `intake`
//! moves them into a table (see the migration for why a table), which is what these routes
//! read and act on. Every replay and discard is recorded: who, when, what came of it, why.

pub mod intake;
pub mod replay;
pub mod store;

use axum::Json;
use axum::extract::State;
use platform::FieldErrors;
use platform::auth::Operator;
use platform::http::{AppJson, AppPath, AppQuery, keyset_page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{CustomerError, Result};
use replay::Replayed;
use store::{DeadLetter, DeadLetterDetail, LetterState};

/// Dead letters one request replays or discards at most.
pub const MAX_SELECTION: usize = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letters))
        .routes(routes!(discard_dead_letters))
        .routes(routes!(show_dead_letter))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(discard_dead_letter))
}

/// Ok when no field was refused.
fn valid(errors: FieldErrors) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CustomerError::Validation(errors))
    }
}

fn operator_name(claims: &contracts::Claims) -> String {
    format!("{} ({})", claims.email, claims.sub)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// dead (the default), replayed, discarded or all.
    #[param(pattern = "^(|dead|replayed|discarded|all)$")]
    state: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<Uuid>,
    /// 1 to 200 (default 50).
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct StateCount {
    state: LetterState,
    count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct ListBody {
    items: Vec<DeadLetter>,
    next_cursor: Option<Uuid>,
    counts: Vec<StateCount>,
}

/// Dead letters newest first, open ones unless another state is asked for.
#[utoipa::path(get, path = "/api/ops/dead-letters", tag = "operators", params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of dead letters, with the count in each state.", body = ListBody)))]
async fn list_dead_letters(
    State(state): State<AppState>,
    _: Operator,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<Json<ListBody>> {
    let filter = match query.state.as_deref() {
        None | Some("") => Some(LetterState::Dead),
        Some("all") => None,
        Some(text) => Some(LetterState::parse(text).ok_or_else(|| {
            let mut errors = FieldErrors::new();
            errors.add("state", "One of dead, replayed, discarded or all.");
            CustomerError::Validation(errors)
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let letters = store::list(&state.db, filter, query.cursor, limit + 1).await?;
    let (items, next_cursor) = keyset_page(letters, limit as usize, |l| l.id);
    let counts = store::count_by_state(&state.db)
        .await?
        .into_iter()
        .map(|(state, count)| StateCount { state, count })
        .collect();
    Ok(Json(ListBody {
        items,
        next_cursor,
        counts,
    }))
}

/// One dead letter, with its body and what was done with it.
#[utoipa::path(get, path = "/api/ops/dead-letters/{id}", tag = "operators", params(("id" = Uuid, Path, description = "The dead letter's id")), security(("bearer" = [])),
    responses((status = 200, description = "The dead letter.", body = DeadLetterDetail)))]
async fn show_dead_letter(
    State(state): State<AppState>,
    _: Operator,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<DeadLetterDetail>> {
    store::find(&state.db, id)
        .await?
        .map(Json)
        .ok_or(CustomerError::NotFound)
}

/// Which dead letters an action is for: `{"ids": [...]}` or `{"all": true}`, and why
/// (needed for a discard, optional for a replay).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectionBody {
    #[serde(default)]
    ids: Vec<Uuid>,
    #[serde(default)]
    all: bool,
    reason: Option<String>,
}

/// The schema of a selection (`{"ids": [...]}` or `{"all": true}`: a choice derived schemas
/// cannot state), whose reason is required (a discard) or not (a replay).
fn selection_schema(reason_required: bool) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let (reason, required) = if reason_required {
        (
            serde_json::json!({"type": "string", "maxLength": REASON_MAX_CHARS, "pattern": "\\S", "description": "Why (not blank)."}),
            vec!["reason"],
        )
    } else {
        (
            serde_json::json!({"type": ["string", "null"], "maxLength": REASON_MAX_CHARS, "description": "Why, if you like."}),
            vec![],
        )
    };
    let uuid = serde_json::json!({"type": "string", "format": "uuid"});
    let branch = |chooses: &str, ids: serde_json::Value, all: bool| {
        let mut required = required.clone();
        required.push(chooses);
        serde_json::json!({"type": "object", "required": required, "additionalProperties": false, "properties": {
            "ids": ids, "all": {"type": "boolean", "enum": [all]}, "reason": reason}})
    };
    let schema = serde_json::json!({
        "description": "Which dead letters: some by id, or all open ones.",
        "oneOf": [
            branch("ids", serde_json::json!({"type": "array", "items": uuid, "minItems": 1, "maxItems": MAX_SELECTION}), false),
            branch("all", serde_json::json!({"type": "array", "items": uuid, "maxItems": 0}), true),
        ]
    });
    utoipa::openapi::RefOr::T(serde_json::from_value(schema).expect("a valid schema"))
}

impl utoipa::PartialSchema for SelectionBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        selection_schema(false)
    }
}

impl ToSchema for SelectionBody {}

/// A selection to discard: its reason is required.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct DiscardSelection(SelectionBody);

impl utoipa::PartialSchema for DiscardSelection {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        selection_schema(true)
    }
}

impl ToSchema for DiscardSelection {}

impl SelectionBody {
    /// The ids chosen, None for every open dead letter.
    fn ids(&self, errors: &mut FieldErrors) -> Option<&[Uuid]> {
        match (self.all, self.ids.len()) {
            (true, 0) => None,
            (true, _) => {
                errors.add("ids", "Choose some dead letters or all of them, not both.");
                None
            }
            (false, 0) => {
                errors.add("ids", "Choose at least one dead letter, or all of them.");
                None
            }
            (false, n) if n > MAX_SELECTION => {
                errors.add("ids", format!("Choose at most {MAX_SELECTION} dead letters at a time."));
                None
            }
            (false, _) => Some(&self.ids),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    /// Why (not blank).
    #[schema(max_length = 500, pattern = "\\S")]
    reason: String,
}

/// The longest reason taken, in characters as sent.
const REASON_MAX_CHARS: usize = 500;

/// A discard's reason: some text, at most 500 characters as sent; kept trimmed.
fn reason(raw: Option<&str>, errors: &mut FieldErrors) -> String {
    let raw = raw.unwrap_or_default();
    let reason = raw.trim();
    if reason.is_empty() || raw.chars().count() > REASON_MAX_CHARS {
        errors.add("reason", "Say why, in at most 500 characters.");
    }
    reason.to_owned()
}

/// A replay's reason, when one is given: at most 500 characters as sent; kept trimmed.
fn optional_reason(raw: Option<&str>, errors: &mut FieldErrors) -> Option<String> {
    let raw = raw?;
    if raw.chars().count() > REASON_MAX_CHARS {
        errors.add("reason", "Say why in at most 500 characters.");
    }
    Some(raw.trim().to_owned()).filter(|r| !r.is_empty())
}

#[derive(Debug, Serialize, ToSchema)]
struct ReplayBody {
    results: Vec<Replayed>,
    /// Open dead letters this request left for the next (a replay of all handles at most
    /// `MAX_SELECTION` at once).
    remaining: i64,
}

/// Replays the chosen dead letters (or every open one) oldest first, each in a transaction
/// of its own, so one that fails again does not hold up the others.
#[utoipa::path(post, path = "/api/ops/dead-letters/replay", tag = "operators", request_body = SelectionBody,
    security(("bearer" = [])),
    responses((status = 200, description = "What came of each.", body = ReplayBody)))]
async fn replay_dead_letters(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppJson(body): AppJson<SelectionBody>,
) -> Result<Json<ReplayBody>> {
    let mut errors = FieldErrors::new();
    let chosen = body.ids(&mut errors);
    let reason = optional_reason(body.reason.as_deref(), &mut errors);
    valid(errors)?;
    let open = store::open_ids(&state.db, chosen, MAX_SELECTION as i64).await?;
    // Chosen ids that are not open are answered as such, after the open ones.
    let rest = chosen
        .unwrap_or_default()
        .iter()
        .filter(|id| !open.contains(id))
        .copied();
    let ids: Vec<Uuid> = open.iter().copied().chain(rest).collect();
    let operator = operator_name(&claims);
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        results.push(replay::replay(&state.db, id, &operator, reason.as_deref()).await?);
    }
    let (open_now, _) = store::open_summary(&state.db).await?;
    let failed = results
        .iter()
        .filter(|r| r.outcome == replay::ReplayOutcome::Failed)
        .count() as i64;
    let remaining = if chosen.is_none() { open_now - failed } else { 0 };
    Ok(Json(ReplayBody { results, remaining }))
}

#[derive(Debug, Serialize, ToSchema)]
struct Discarded {
    id: Uuid,
    outcome: DiscardOutcome,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DiscardOutcome {
    Discarded,
    /// Replayed or discarded already, or unknown.
    NotOpen,
}

#[derive(Debug, Serialize, ToSchema)]
struct DiscardBody {
    results: Vec<Discarded>,
}

/// Discards the chosen dead letters (or every open one) with a reason.
#[utoipa::path(post, path = "/api/ops/dead-letters/discard", tag = "operators", request_body = DiscardSelection,
    security(("bearer" = [])),
    responses((status = 200, description = "What came of each.", body = DiscardBody)))]
async fn discard_dead_letters(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppJson(DiscardSelection(body)): AppJson<DiscardSelection>,
) -> Result<Json<DiscardBody>> {
    let mut errors = FieldErrors::new();
    let chosen = body.ids(&mut errors);
    let reason = reason(body.reason.as_deref(), &mut errors);
    valid(errors)?;
    let mut tx = state.db.begin().await?;
    let discarded = store::discard(&mut tx, chosen, &operator_name(&claims), &reason).await?;
    tx.commit().await?;
    tracing::info!(count = discarded.len(), operator = %claims.sub, "dead letters discarded");
    let not_open = chosen
        .unwrap_or_default()
        .iter()
        .filter(|id| !discarded.contains(id))
        .map(|id| Discarded {
            id: *id,
            outcome: DiscardOutcome::NotOpen,
        });
    let results = discarded
        .iter()
        .map(|id| Discarded {
            id: *id,
            outcome: DiscardOutcome::Discarded,
        })
        .chain(not_open)
        .collect();
    Ok(Json(DiscardBody { results }))
}

/// Why the dead letter `id` was not acted on: it is unknown (404), or replayed or discarded
/// already (409).
async fn not_open(state: &AppState, id: Uuid) -> CustomerError {
    match store::find(&state.db, id).await {
        Ok(Some(detail)) => CustomerError::DeadLetterClosed(detail.letter.state),
        Ok(None) => CustomerError::NotFound,
        Err(e) => e.into(),
    }
}

/// Replays one dead letter.
#[utoipa::path(post, path = "/api/ops/dead-letters/{id}/replay", tag = "operators", params(("id" = Uuid, Path, description = "The dead letter's id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "What came of it.", body = Replayed),
        (status = 409, description = "Replayed or discarded already (`dead_letter_closed`).", body = api::ErrorBody),
    ))]
async fn replay_dead_letter(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
) -> Result<Json<Replayed>> {
    let replayed = replay::replay(&state.db, id, &operator_name(&claims), None).await?;
    if replayed.outcome == replay::ReplayOutcome::NotOpen {
        return Err(not_open(&state, id).await);
    }
    Ok(Json(replayed))
}

/// Discards one dead letter with a reason.
#[utoipa::path(post, path = "/api/ops/dead-letters/{id}/discard", tag = "operators", params(("id" = Uuid, Path, description = "The dead letter's id")), request_body = ReasonBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dead letter, discarded.", body = DeadLetterDetail),
        (status = 409, description = "Replayed or discarded already (`dead_letter_closed`).", body = api::ErrorBody),
    ))]
async fn discard_dead_letter(
    State(state): State<AppState>,
    Operator(claims): Operator,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Json<DeadLetterDetail>> {
    let mut errors = FieldErrors::new();
    let reason = reason(Some(&body.reason), &mut errors);
    valid(errors)?;
    let mut tx = state.db.begin().await?;
    let discarded = store::discard(&mut tx, Some(&[id]), &operator_name(&claims), &reason).await?;
    tx.commit().await?;
    if discarded.is_empty() {
        return Err(not_open(&state, id).await);
    }
    tracing::info!(dead_letter = %id, operator = %claims.sub, "dead letter discarded");
    show_dead_letter(State(state), Operator(claims), AppPath(id)).await
}
