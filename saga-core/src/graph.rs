//! A definition as a graph for drawing: each step and its compensation as nodes, and the edges
//! the state machine can take between them (on success, on failing for good, after undoing).

use serde::{Deserialize, Serialize};

use crate::machine::{Phase, Shape, newest_compensable_below};

/// A place an instance can be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Node {
    /// A step's action (`forward`) or its compensation.
    Step {
        index: usize,
        phase: Phase,
    },
    Completed,
    Failed,
}

/// Why the machine moves along an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The step succeeded.
    Succeeds,
    /// The step failed for good (or ran out of attempts): undoing starts.
    FailsForGood,
    /// The compensation is done: the next one runs, or the saga has failed.
    Undone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Edge {
    pub from: Node,
    pub to: Node,
    pub kind: EdgeKind,
}

/// Every edge the state machine can take between the steps of `shape`, forward steps first,
/// then compensations, in step order. (An operator's cancel also undoes the current step; an
/// operator's retry runs a node again.)
pub fn edges(shape: Shape<'_>) -> Vec<Edge> {
    let step = |index, phase| Node::Step { index, phase };
    let undo_below =
        |below| newest_compensable_below(shape, below).map_or(Node::Failed, |j| step(j, Phase::Compensation));
    let count = shape.steps.len();
    let forward = (0..count).flat_map(|i| {
        let next = if i + 1 < count {
            step(i + 1, Phase::Forward)
        } else {
            Node::Completed
        };
        [
            Edge {
                from: step(i, Phase::Forward),
                to: next,
                kind: EdgeKind::Succeeds,
            },
            Edge {
                from: step(i, Phase::Forward),
                to: undo_below(i),
                kind: EdgeKind::FailsForGood,
            },
        ]
    });
    let undoing = (0..count).filter(|&j| shape.steps[j].compensable).map(|j| Edge {
        from: step(j, Phase::Compensation),
        to: undo_below(j),
        kind: EdgeKind::Undone,
    });
    forward.chain(undoing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::StepShape;
    use crate::policy::RetryPolicy;

    fn shape(compensable: &[bool]) -> Vec<StepShape> {
        compensable
            .iter()
            .map(|&compensable| StepShape {
                compensable,
                transactional: false,
                retry: RetryPolicy::default(),
            })
            .collect()
    }

    fn fwd(index: usize) -> Node {
        Node::Step {
            index,
            phase: Phase::Forward,
        }
    }

    fn comp(index: usize) -> Node {
        Node::Step {
            index,
            phase: Phase::Compensation,
        }
    }

    #[test]
    fn the_checkout_shape_undoes_newest_first_and_skips_steps_without_compensation() {
        // validate -> reserve (undone by release) -> place (undone by cancel) -> publish
        let steps = shape(&[false, true, true, false]);
        let edges = edges(Shape { steps: &steps });
        let to = |from: Node, kind: EdgeKind| {
            edges
                .iter()
                .filter(|e| e.from == from && e.kind == kind)
                .map(|e| e.to)
                .collect::<Vec<_>>()
        };
        assert_eq!(to(fwd(0), EdgeKind::Succeeds), [fwd(1)]);
        assert_eq!(to(fwd(3), EdgeKind::Succeeds), [Node::Completed]);
        assert_eq!(to(fwd(0), EdgeKind::FailsForGood), [Node::Failed]);
        assert_eq!(
            to(fwd(1), EdgeKind::FailsForGood),
            [Node::Failed],
            "nothing before it to undo"
        );
        assert_eq!(to(fwd(2), EdgeKind::FailsForGood), [comp(1)]);
        assert_eq!(to(fwd(3), EdgeKind::FailsForGood), [comp(2)]);
        assert_eq!(to(comp(2), EdgeKind::Undone), [comp(1)]);
        assert_eq!(to(comp(1), EdgeKind::Undone), [Node::Failed]);
        assert!(to(comp(0), EdgeKind::Undone).is_empty(), "validate has no compensation");
        assert_eq!(edges.len(), 4 * 2 + 2);
    }
}
