//! A saga's steps drawn as server-rendered SVG from the edges its definition allows: forward
//! steps along the top row, each compensation under its step, the ends (completed on the
//! right, failed on the left, where undoing ends), the current place outlined. Text in the
//! SVG's title and description says the same for screen readers.

use api::sagas::Saga;
use askama::Template;
use saga_core::{EdgeKind, InstanceState, Node, Phase};

const COLUMN: i32 = 170;
const WIDTH: i32 = 140;
const HEIGHT: i32 = 56;
const FORWARD_Y: i32 = 20;
const UNDO_Y: i32 = 170;

/// A box of the drawing.
pub struct DrawnNode {
    pub x: i32,
    pub y: i32,
    pub label: String,
    /// The state it shows (pending, running, retrying, succeeded, failed, or the end's).
    pub state: String,
    pub current: bool,
    /// `forward`, `compensation` or `end`.
    pub kind: &'static str,
}

/// An arrow of the drawing.
pub struct DrawnEdge {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
    /// `succeeds`, `fails` or `undone`.
    pub kind: &'static str,
}

#[derive(Template)]
#[template(path = "ops/saga_drawing.html")]
pub struct SagaDrawing {
    pub width: i32,
    pub height: i32,
    pub nodes: Vec<DrawnNode>,
    pub edges: Vec<DrawnEdge>,
    /// The drawing in words.
    pub description: String,
}

impl SagaDrawing {
    pub fn of(detail: &Saga) -> Self {
        let steps = &detail.instance.steps;
        let summary = &detail.instance.summary;
        let current = match summary.state {
            InstanceState::Completed => Node::Completed,
            InstanceState::Failed => Node::Failed,
            _ => Node::Step {
                index: steps.iter().position(|s| s.name == summary.step).unwrap_or(0),
                phase: summary.phase,
            },
        };
        // Column 0 holds "failed"; step i is in column i + 1; "completed" comes last.
        let place = |node: Node| match node {
            Node::Step { index, phase } => {
                let y = if phase == Phase::Forward { FORWARD_Y } else { UNDO_Y };
                (COLUMN * (index as i32 + 1) + 10, y)
            }
            Node::Completed => (COLUMN * (steps.len() as i32 + 1) + 10, FORWARD_Y),
            Node::Failed => (10, UNDO_Y),
        };
        let mut nodes = Vec::new();
        for step in steps {
            let forward = Node::Step {
                index: step.index,
                phase: Phase::Forward,
            };
            let (x, y) = place(forward);
            nodes.push(DrawnNode {
                x,
                y,
                label: step.name.clone(),
                state: step.state.to_string(),
                current: current == forward,
                kind: "forward",
            });
            if let Some(compensation) = &step.compensation {
                let undo = Node::Step {
                    index: step.index,
                    phase: Phase::Compensation,
                };
                let (x, y) = place(undo);
                nodes.push(DrawnNode {
                    x,
                    y,
                    label: format!("undo {}", step.name),
                    state: compensation.state.to_string(),
                    current: current == undo,
                    kind: "compensation",
                });
            }
        }
        for (end, label) in [(Node::Completed, "completed"), (Node::Failed, "failed")] {
            let (x, y) = place(end);
            let reached = current == end;
            nodes.push(DrawnNode {
                x,
                y,
                label: label.to_owned(),
                state: if reached { "reached".into() } else { String::new() },
                current: reached,
                kind: "end",
            });
        }
        let edges = detail
            .instance
            .edges
            .iter()
            .map(|edge| {
                let (fx, fy) = place(edge.from);
                let (tx, ty) = place(edge.to);
                let (x1, y1, x2, y2, kind) = match edge.kind {
                    EdgeKind::Succeeds => (fx + WIDTH, fy + HEIGHT / 2, tx, ty + HEIGHT / 2, "succeeds"),
                    EdgeKind::FailsForGood => (fx + WIDTH / 2, fy + HEIGHT, tx + WIDTH / 2, ty, "fails"),
                    EdgeKind::Undone => (fx, fy + HEIGHT / 2, tx + WIDTH, ty + HEIGHT / 2, "undone"),
                };
                DrawnEdge { x1, y1, x2, y2, kind }
            })
            .collect();
        let description = nodes
            .iter()
            .filter(|n| n.kind != "end")
            .map(|n| {
                let mark = if n.current { " (current)" } else { "" };
                format!("{}: {}{mark}", n.label, n.state)
            })
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            width: COLUMN * (steps.len() as i32 + 2),
            height: UNDO_Y + HEIGHT + 20,
            nodes,
            edges,
            description,
        }
    }

    /// The middle of a node, for its text.
    pub fn text_x(&self, node: &DrawnNode) -> i32 {
        node.x + WIDTH / 2
    }

    pub fn box_width(&self) -> i32 {
        WIDTH
    }

    pub fn box_height(&self) -> i32 {
        HEIGHT
    }
}
