//! How much memory a read may use and how many rows a batch takes.
//!
//! - `manager`: `MemoryManager`, the budget (explicit, cgroup, machine) and what is in flight;
//! - `chunk_strategy`: `ChunkPolicy` and the `ChunkStrategy` trait.

pub(crate) mod chunk_strategy;
pub(crate) mod manager;
