//! The graph that holds a model's ops.

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::op::Op;
use crate::types::Type;

/// Identifies a node of a [`Graph`].
pub type NodeId = NodeIndex<u32>;

/// One node: an op and the type of the value it produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What the node computes.
    pub op: Op,
    /// The type of its result.
    pub ty: Type,
}

/// A dataflow graph of typed ops. Edge weights are operand positions.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    g: StableDiGraph<Node, usize>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Add a node computing `op` on `operands`, producing a value of type `ty`.
    pub fn add(&mut self, op: Op, ty: Type, operands: &[NodeId]) -> NodeId {
        let n = self.g.add_node(Node { op, ty });
        for (pos, &src) in operands.iter().enumerate() {
            self.g.add_edge(src, n, pos);
        }
        n
    }

    /// The node `n`.
    pub fn node(&self, n: NodeId) -> &Node {
        &self.g[n]
    }

    /// The node `n`, mutably.
    pub fn node_mut(&mut self, n: NodeId) -> &mut Node {
        &mut self.g[n]
    }

    /// Operands of `n`, in order.
    pub fn operands(&self, n: NodeId) -> Vec<NodeId> {
        let mut v: Vec<(usize, NodeId)> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, s)| s).collect()
    }

    /// Nodes that use the value of `n`, in ascending node order.
    pub fn users(&self, n: NodeId) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self.g.neighbors_directed(n, Direction::Outgoing).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Make every user of `old` use `new` instead.
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        let edges: Vec<_> = self
            .g
            .edges_directed(old, Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
            .collect();
        for (id, target, pos) in edges {
            self.g.remove_edge(id);
            self.g.add_edge(new, target, pos);
        }
    }

    /// Insert a node computing `op` on `n` between `n` and all of `n`'s users.
    pub fn insert_after(&mut self, n: NodeId, op: Op, ty: Type) -> NodeId {
        let users: Vec<_> = self
            .g
            .edges_directed(n, Direction::Outgoing)
            .map(|e| (e.id(), e.target(), *e.weight()))
            .collect();
        let new = self.add(op, ty, &[n]);
        for (id, target, pos) in users {
            self.g.remove_edge(id);
            self.g.add_edge(new, target, pos);
        }
        new
    }

    /// Remove node `n` and its edges.
    pub fn remove(&mut self, n: NodeId) {
        self.g.remove_node(n);
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// All node ids, ascending.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.g.node_indices().collect()
    }

    /// Nodes in a deterministic topological order (ties broken by node id),
    /// or `None` if the graph has a cycle.
    pub fn topo_order(&self) -> Option<Vec<NodeId>> {
        let mut indeg: std::collections::BTreeMap<NodeId, usize> = self
            .g
            .node_indices()
            .map(|n| (n, self.g.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BTreeSet<NodeId> = indeg
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&n, _)| n)
            .collect();
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                let d = indeg.get_mut(&e.target()).expect("edge target is a node");
                *d -= 1;
                if *d == 0 {
                    ready.insert(e.target());
                }
            }
        }
        (order.len() == self.g.node_count()).then_some(order)
    }

    /// The nodes with the given op mnemonic, in topological order.
    pub fn find(&self, pred: impl Fn(&Op) -> bool) -> Vec<NodeId> {
        self.topo_order()
            .unwrap_or_default()
            .into_iter()
            .filter(|&n| pred(&self.g[n].op))
            .collect()
    }

    /// The graph's input node (the first `input` op), if any.
    pub fn input(&self) -> Option<NodeId> {
        self.find(|op| matches!(op, Op::Input { .. }))
            .first()
            .copied()
    }

    /// The graph's result: the last node in topological order that nobody uses.
    pub fn output(&self) -> Option<NodeId> {
        self.topo_order()?
            .into_iter()
            .rev()
            .find(|&n| self.users(n).is_empty())
    }

    /// A canonical listing (topological order, operands as positions in it),
    /// equal for two graphs exactly when they compute the same thing the same way.
    pub fn canonical(&self) -> Option<Vec<(Node, Vec<usize>)>> {
        let order = self.topo_order()?;
        let pos: std::collections::HashMap<NodeId, usize> =
            order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        Some(
            order
                .iter()
                .map(|&n| {
                    let ops = self.operands(n).iter().map(|o| pos[o]).collect();
                    (self.g[n].clone(), ops)
                })
                .collect(),
        )
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Eq for Graph {}
