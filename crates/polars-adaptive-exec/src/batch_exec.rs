//! Parts of a plan compiled once into Polars' physical executors and run on many batches.
//!
//! Polars' in-memory executors read their input from a scan executor every time they run. The
//! input here is a [`Slot`], an `AnonymousScan` that hands out the batch last put into it, so
//! one executor tree (built by `polars_mem_engine::create_physical_plan`, the semantics of
//! every step Polars' own) serves every batch. An executor runs on one thread at a time: a
//! [`BatchExecPool`] keeps one per thread that runs batches, built on first use.

use std::sync::{Arc, Mutex};

use polars::prelude::*;
use polars_expr::state::ExecutionState;
use polars_mem_engine::{create_physical_plan, Executor};
use polars_plan::plans::{IRPlan, IR};
use polars_plan::prelude::Node;

/// The scan that feeds a compiled executor: the batch put into it.
struct Slot {
    schema: SchemaRef,
    batch: Mutex<Option<DataFrame>>,
}

impl AnonymousScan for Slot {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn schema(&self, _infer_schema_length: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn scan(&self, _args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let batch = self.batch.lock().unwrap_or_else(|e| e.into_inner()).take();
        batch.ok_or_else(
            || polars_err!(ComputeError: "polars-adaptive: a compiled step ran without a batch"),
        )
    }
}

/// An executor tree whose input is the batch given to [`BatchExec::run`].
pub(crate) struct BatchExec {
    exec: Box<dyn Executor>,
    slot: Arc<Slot>,
}

impl BatchExec {
    /// Compiles `plan` from `top` down to `input`, with `input` (a node whose output schema the
    /// batches have) replaced by the batches.
    pub fn from_ir(plan: &IRPlan, input: Node, top: Node) -> PolarsResult<Self> {
        let mut lp_arena = plan.lp_arena.clone();
        let mut expr_arena = plan.expr_arena.clone();
        let schema = lp_arena.get(input).schema(&lp_arena).into_owned();
        let (slot, scan) = slot_scan(schema)?;
        lp_arena.replace(input, scan);
        let exec = create_physical_plan(top, &mut lp_arena, &mut expr_arena, None)?;
        Ok(Self { exec, slot })
    }

    /// Compiles `build(batches)`, a plan over batches of `schema`, with Polars' optimizer.
    pub fn from_lazy(
        schema: SchemaRef,
        build: impl FnOnce(LazyFrame) -> LazyFrame,
    ) -> PolarsResult<Self> {
        let (slot, lf) = slot_frame(schema)?;
        let mut plan = build(lf).to_alp_optimized()?;
        let exec =
            create_physical_plan(plan.lp_top, &mut plan.lp_arena, &mut plan.expr_arena, None)?;
        Ok(Self { exec, slot })
    }

    /// Runs the compiled steps on `df`.
    pub fn run(&mut self, df: DataFrame) -> PolarsResult<DataFrame> {
        *self.slot.batch.lock().unwrap_or_else(|e| e.into_inner()) = Some(df);
        let out = self.exec.execute(&mut ExecutionState::new());
        // An executor that did not read its input (it cannot happen for the steps compiled
        // here) must not leave the batch behind for the next run.
        self.slot
            .batch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        out
    }
}

/// A new slot of batches of `schema`, and a lazy frame reading from it.
fn slot_frame(schema: SchemaRef) -> PolarsResult<(Arc<Slot>, LazyFrame)> {
    let slot = Arc::new(Slot {
        schema: schema.clone(),
        batch: Mutex::new(None),
    });
    let args = ScanArgsAnonymous {
        schema: Some(schema),
        ..Default::default()
    };
    let lf = LazyFrame::anonymous_scan(slot.clone(), args)?;
    Ok((slot, lf))
}

/// A `Scan` node reading from a new slot of batches of `schema`.
fn slot_scan(schema: SchemaRef) -> PolarsResult<(Arc<Slot>, IR)> {
    let (slot, lf) = slot_frame(schema)?;
    let plan = lf.to_alp()?;
    let scan = plan.lp_arena.get(plan.lp_top).clone();
    polars_ensure!(matches!(scan, IR::Scan { .. }), ComputeError: "polars-adaptive: an anonymous scan did not plan to a scan node");
    Ok((slot, scan))
}

/// Items idle between uses by the threads that run batches: a thread takes one (the last put
/// back) or makes its own, and puts it back when its batch is done. A poisoned lock is taken
/// over: an item is put back whole or not at all.
pub(crate) struct Idle<T>(Mutex<Vec<T>>);

impl<T> Idle<T> {
    pub fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    pub fn take(&self) -> Option<T> {
        self.list().pop()
    }

    pub fn put(&self, item: T) {
        self.list().push(item);
    }

    /// Every idle item, leaving none.
    pub fn take_all(&self) -> Vec<T> {
        std::mem::take(&mut *self.list())
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Build = dyn Fn() -> PolarsResult<BatchExec> + Send + Sync;

/// Compiled executors for the threads that run batches: a thread takes a free one (or builds
/// one, at most one per thread running at once) and gives it back after its batch.
pub(crate) struct BatchExecPool {
    build: Box<Build>,
    free: Idle<BatchExec>,
}

impl BatchExecPool {
    pub fn new(build: impl Fn() -> PolarsResult<BatchExec> + Send + Sync + 'static) -> Self {
        Self {
            build: Box::new(build),
            free: Idle::new(),
        }
    }

    /// Runs the compiled steps on `df`.
    pub fn run(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        let mut exec = match self.free.take() {
            Some(exec) => exec,
            None => (self.build)()?,
        };
        let out = exec.run(df);
        self.free.put(exec);
        out
    }
}
