//! A read's batches as one frame with one chunk per column, copied into place as they arrive.
//! (Over 600 lines, a fifth of them tests: the three kinds of output, fixed-width, views and
//! kept chunks, implement one round protocol, `Output` and `Round`, and read best together.)
//!
//! Polars' in-memory engine rechunks a scan's output before a group-by (`rechunk_mut_par` in
//! polars-mem-engine): a second copy of every column, one thread per column, into memory faulted
//! in page by page while the batches' own buffers are still held. In P1 that copy of the string
//! column alone (`concatenate_view`) held a quarter of the process's CPU samples, most of them
//! the kernel clearing new pages. Here each batch is copied into its place in the output as soon
//! as it arrives, on Polars' pool while the next units decode, and its buffers are freed when
//! the copy is done, so the allocator hands the same memory to the units that follow. Polars'
//! rechunk then finds one chunk and has nothing to do.
//!
//! Fixed-width columns and string/binary views are copied; any other column (booleans, nested
//! types) keeps its batches' chunks, as `accumulate_dataframes_vertical` would.

use std::collections::TryReserveError;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use polars::prelude::*;
use polars_arrow::array::{Array, BinaryViewArrayGeneric, PrimitiveArray, View, ViewType};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::{ArrowDataType, PhysicalType, PrimitiveType};
use polars_arrow::types::NativeType;
use polars_buffer::Buffer;
use polars_core::runtime::RAYON;
use polars_core::utils::accumulate_dataframes_vertical_unchecked;
use rayon::Scope;

/// Bytes of batches held as they are before copying starts. A read that ends within them keeps
/// its batches' chunks: copying pays where the batches' memory would otherwise stay held until
/// the rechunk, not for small reads, whose copy is new pages where Polars' rechunk reuses
/// memory the process already touched (a 1 M-row criterion read, `scan/adaptive/vwap/collect`,
/// went from about 20 to 31–38 ms with copying from the first batch on). A read that goes past
/// them starts with room for twice what is held, and copies as batches arrive.
const HELD_BYTES: usize = 64 << 20;

/// All `batches` in one frame. A read of more than [`HELD_BYTES`] has one chunk per column
/// where the dtype allows it (fixed-width values and string/binary views; other columns keep
/// the batches' chunks); a smaller one keeps the batches' chunks, as
/// `accumulate_dataframes_vertical` would. `schema` is the frame's schema when there is no
/// batch.
///
/// Past the first [`HELD_BYTES`], the batches are copied on Polars' pool as they arrive, each
/// into its own part of the output, so the copying overlaps whatever produces the batches and
/// the batches' memory is reused while the read goes on. The first error ends the read and is
/// returned.
pub fn one_chunk_frame(
    batches: impl Iterator<Item = PolarsResult<DataFrame>> + Send,
    schema: SchemaRef,
) -> PolarsResult<DataFrame> {
    assemble(batches, schema, HELD_BYTES)
}

/// [`one_chunk_frame`], holding up to `hold` bytes of batches before copying starts.
fn assemble(
    mut batches: impl Iterator<Item = PolarsResult<DataFrame>> + Send,
    schema: SchemaRef,
    hold: usize,
) -> PolarsResult<DataFrame> {
    let Some(first) = batches.next().transpose()? else {
        return Ok(DataFrame::empty_with_arc_schema(schema));
    };
    let mut held_bytes = first.estimated_size();
    let mut held = vec![first];
    while held_bytes <= hold {
        match batches.next().transpose()? {
            Some(b) => {
                held_bytes += b.estimated_size();
                held.push(b);
            }
            None => return Ok(accumulate_dataframes_vertical_unchecked(held)),
        }
    }
    let mut outputs = held[0]
        .columns()
        .iter()
        .map(|c| output_for(c.as_materialized_series()))
        .collect::<Vec<_>>();
    let held_rows = held.iter().map(|b| b.height()).sum::<usize>();
    grow(&mut outputs, 2 * held_rows, held_rows)?;
    let mut batches = held.into_iter().map(Ok).chain(batches);
    let mut height = 0;
    let mut next = batches.next().transpose()?;
    while let Some(batch) = next.take() {
        let room = outputs.iter().map(|o| o.room()).min().unwrap_or(usize::MAX);
        if room < batch.height() {
            let needed = height + batch.height();
            grow(&mut outputs, needed.max(2 * height), needed)?;
        }
        // One round: batches go to the pool until one does not fit in the room left (or the
        // read ends). The round's copies are all done when `in_place_scope` returns.
        // `RAYON.with`: Polars' pool, or none where Polars runs this thread's work in place.
        let round = RAYON.with(|pool| {
            pool.in_place_scope(|scope| -> PolarsResult<()> {
                let mut rounds = outputs.iter_mut().map(|o| o.round()).collect::<Vec<_>>();
                let mut room = rounds.iter().map(|r| r.room()).min().unwrap_or(usize::MAX);
                let mut batch = batch;
                loop {
                    polars_ensure!(
                        batch.width() == rounds.len(),
                        ComputeError: "a batch of {} columns among batches of {}",
                        batch.width(), rounds.len()
                    );
                    for (round, column) in rounds.iter_mut().zip(batch.columns()) {
                        for chunk in column.as_materialized_series().chunks() {
                            round.append(chunk, scope)?;
                        }
                    }
                    height += batch.height();
                    room -= batch.height();
                    match batches.next().transpose()? {
                        Some(b) if b.height() <= room => batch = b,
                        later => {
                            next = later;
                            return Ok(());
                        }
                    }
                }
            })
        });
        outputs.iter_mut().for_each(|o| o.commit());
        round?;
    }
    let columns = outputs.into_iter().map(|o| o.finish()).collect();
    DataFrame::new(height, columns)
}

/// Room for `rows` rows in every output where the allocator grants it, else for the `needed`
/// rows only: an allocation refused is an error, not an abort.
fn grow(outputs: &mut [Box<dyn Output>], rows: usize, needed: usize) -> PolarsResult<()> {
    for o in outputs {
        if o.grow(rows).is_err() {
            o.grow(needed).map_err(|e| {
                polars_err!(ComputeError: "cannot allocate {needed} rows of the scan's output: {e}")
            })?;
        }
    }
    Ok(())
}

/// The output of one column: where its batches' rows are copied to.
trait Output: Send {
    /// Rows that fit before the output must grow.
    fn room(&self) -> usize;
    /// Room for `rows` rows in all. Between rounds only: no copy is under way.
    fn grow(&mut self, rows: usize) -> Result<(), TryReserveError>;
    /// The room, handed out in order to one round's batches.
    fn round(&mut self) -> Box<dyn Round<'_> + '_>;
    /// Counts the rows the last round copied. Only once its copies are all done.
    fn commit(&mut self);
    fn finish(self: Box<Self>) -> Column;
}

/// One round of an [`Output`]: claims the next rows of the room for each chunk and copies the
/// chunk there on the pool.
trait Round<'a> {
    /// Rows that fit in what is left of the room.
    fn room(&self) -> usize;
    fn append(&mut self, chunk: &ArrayRef, scope: &Scope<'a>) -> PolarsResult<()>;
}

/// The output for a column like `series`, by its physical arrow dtype.
fn output_for(series: &Series) -> Box<dyn Output> {
    let name = series.name().clone();
    let dtype = series.dtype().clone();
    let arrow = series.chunks()[0].dtype().clone();
    macro_rules! fixed {
        ($t:ty) => {
            Box::new(Fixed::<$t>(Copied::new(name, dtype, arrow)))
        };
    }
    match arrow.to_physical_type() {
        PhysicalType::Primitive(p) => match p {
            PrimitiveType::Int8 => fixed!(i8),
            PrimitiveType::Int16 => fixed!(i16),
            PrimitiveType::Int32 => fixed!(i32),
            PrimitiveType::Int64 => fixed!(i64),
            PrimitiveType::Int128 => fixed!(i128),
            PrimitiveType::UInt8 => fixed!(u8),
            PrimitiveType::UInt16 => fixed!(u16),
            PrimitiveType::UInt32 => fixed!(u32),
            PrimitiveType::UInt64 => fixed!(u64),
            PrimitiveType::UInt128 => fixed!(u128),
            PrimitiveType::Float32 => fixed!(f32),
            PrimitiveType::Float64 => fixed!(f64),
            _ => Box::new(Chunks::new(name, dtype, arrow)),
        },
        PhysicalType::Utf8View => Box::new(Views::<str>::new(Copied::new(name, dtype, arrow))),
        PhysicalType::BinaryView => Box::new(Views::<[u8]>::new(Copied::new(name, dtype, arrow))),
        _ => Box::new(Chunks::new(name, dtype, arrow)),
    }
}

/// An error unless `chunk` has the arrow dtype of the first batch's chunks of its column: the
/// chunks become one Series of one dtype.
fn same_dtype(chunk: &ArrayRef, arrow: &ArrowDataType) -> PolarsResult<()> {
    polars_ensure!(
        chunk.dtype() == arrow,
        ComputeError: "a batch's column is {:?} where the first batch's was {:?}", chunk.dtype(), arrow
    );
    Ok(())
}

/// The chunk as the array type its output expects.
fn downcast<'c, A: Array + 'static>(
    chunk: &'c ArrayRef,
    arrow: &ArrowDataType,
) -> PolarsResult<&'c A> {
    same_dtype(chunk, arrow)?;
    chunk.as_any().downcast_ref::<A>().ok_or_else(
        || polars_err!(ComputeError: "a batch's column of {:?} is not the expected array", arrow),
    )
}

/// A column's validity: no bitmap until the first null.
#[derive(Default)]
struct Validity {
    bits: Option<MutableBitmap>,
    rows: usize,
}

impl Validity {
    fn push(&mut self, validity: Option<&Bitmap>, rows: usize) {
        match (validity.filter(|v| v.unset_bits() > 0), &mut self.bits) {
            (Some(v), Some(bits)) => bits.extend_from_bitmap(v),
            (Some(v), None) => {
                let mut bits = MutableBitmap::with_capacity(self.rows + rows);
                bits.extend_constant(self.rows, true);
                bits.extend_from_bitmap(v);
                self.bits = Some(bits);
            }
            (None, Some(bits)) => bits.extend_constant(rows, true),
            (None, None) => {}
        }
        self.rows += rows;
    }

    fn finish(self) -> Option<Bitmap> {
        self.bits.map(Bitmap::from)
    }
}

/// What every copied output keeps: the column's name and dtypes, the values copied so far
/// (`values.len()`) and those claimed by the round under way, and the validity.
struct Copied<T> {
    name: PlSmallStr,
    dtype: DataType,
    arrow: ArrowDataType,
    values: Vec<T>,
    /// Rows handed to the copies of the round under way, past `values.len()`.
    claimed: usize,
    validity: Validity,
}

impl<T> Copied<T> {
    fn new(name: PlSmallStr, dtype: DataType, arrow: ArrowDataType) -> Self {
        Self {
            name,
            dtype,
            arrow,
            values: Vec::new(),
            claimed: 0,
            validity: Validity::default(),
        }
    }

    fn room(&self) -> usize {
        self.values.capacity() - self.values.len()
    }

    fn grow(&mut self, rows: usize) -> Result<(), TryReserveError> {
        // A large allocation grows by remapping its pages: nothing is copied or touched.
        self.values
            .try_reserve_exact(rows.saturating_sub(self.values.len()))
    }

    /// The spare capacity, lent to one round.
    fn lend(&mut self) -> Lent<'_, T> {
        Lent {
            arrow: &self.arrow,
            free: self.values.spare_capacity_mut(),
            claimed: &mut self.claimed,
            validity: &mut self.validity,
        }
    }

    fn commit(&mut self) {
        let rows = self.values.len() + std::mem::take(&mut self.claimed);
        // SAFETY: the claimed slots follow `len` (`Lent::claim` hands out the spare capacity
        // from its start, in order) and each was written by a copy of the round, whose scope
        // has returned, so every copy is done; a copy that panicked re-raised in the scope and
        // this is never reached.
        unsafe { self.values.set_len(rows) };
    }

    /// The column of the array `build` makes of the values and the validity.
    fn finish(
        self,
        build: impl FnOnce(ArrowDataType, Vec<T>, Option<Bitmap>) -> ArrayRef,
    ) -> Column {
        let Self {
            name,
            dtype,
            arrow,
            mut values,
            validity,
            ..
        } = self;
        values.shrink_to_fit();
        let array = build(arrow, values, validity.finish());
        // SAFETY: the array has the arrow dtype of the batches' chunks, which Polars built for
        // `dtype`.
        unsafe { Series::from_chunks_and_dtype_unchecked(name, vec![array], &dtype) }.into()
    }
}

/// A [`Copied`] output's spare capacity, handed out in order to one round's chunks.
struct Lent<'a, T> {
    arrow: &'a ArrowDataType,
    free: &'a mut [MaybeUninit<T>],
    claimed: &'a mut usize,
    validity: &'a mut Validity,
}

impl<'a, T> Lent<'a, T> {
    /// The next `array.len()` slots, for a copy of `array`; its validity is added here.
    fn claim(&mut self, array: &dyn Array) -> &'a mut [MaybeUninit<T>] {
        let (slots, rest) = std::mem::take(&mut self.free).split_at_mut(array.len());
        self.free = rest;
        *self.claimed += array.len();
        self.validity.push(array.validity(), array.len());
        slots
    }
}

/// Fixed-width values (`PrimitiveArray<T>`, any Polars dtype of that physical type).
struct Fixed<T>(Copied<T>);

impl<T: NativeType> Output for Fixed<T> {
    fn room(&self) -> usize {
        self.0.room()
    }

    fn grow(&mut self, rows: usize) -> Result<(), TryReserveError> {
        self.0.grow(rows)
    }

    fn round(&mut self) -> Box<dyn Round<'_> + '_> {
        Box::new(FixedRound(self.0.lend()))
    }

    fn commit(&mut self) {
        self.0.commit()
    }

    fn finish(self: Box<Self>) -> Column {
        self.0.finish(|arrow, values, validity| {
            PrimitiveArray::new(arrow, values.into(), validity).boxed()
        })
    }
}

struct FixedRound<'a, T>(Lent<'a, T>);

impl<'a, T: NativeType> Round<'a> for FixedRound<'a, T> {
    fn room(&self) -> usize {
        self.0.free.len()
    }

    fn append(&mut self, chunk: &ArrayRef, scope: &Scope<'a>) -> PolarsResult<()> {
        let array: &PrimitiveArray<T> = downcast(chunk, self.0.arrow)?;
        let slots = self.0.claim(array);
        let values = array.values().clone();
        scope.spawn(move |_| {
            for (slot, v) in slots.iter_mut().zip(values.iter()) {
                slot.write(*v);
            }
        });
        Ok(())
    }
}

/// String or binary views. The batches' data buffers are shared, not copied (each once, however
/// many batches point into it); the views are copied with their buffer index renumbered.
struct Views<V: ?Sized> {
    views: Copied<View>,
    buffers: Vec<Buffer<u8>>,
    /// Each buffer's index in `buffers`, by its address and length (`buffers` holds every
    /// buffer it has seen, so no address is freed and reused while the read goes on).
    indices: PlHashMap<(usize, usize), u32>,
    kind: PhantomData<fn() -> V>,
}

impl<V: ViewType + ?Sized> Views<V> {
    fn new(views: Copied<View>) -> Self {
        Self {
            views,
            buffers: Vec::new(),
            indices: PlHashMap::default(),
            kind: PhantomData,
        }
    }
}

struct ViewsRound<'a, V: ?Sized> {
    views: Lent<'a, View>,
    buffers: &'a mut Vec<Buffer<u8>>,
    indices: &'a mut PlHashMap<(usize, usize), u32>,
    kind: PhantomData<fn() -> V>,
}

impl<V: ViewType + ?Sized> Output for Views<V> {
    fn room(&self) -> usize {
        self.views.room()
    }

    fn grow(&mut self, rows: usize) -> Result<(), TryReserveError> {
        self.views.grow(rows)
    }

    fn round(&mut self) -> Box<dyn Round<'_> + '_> {
        Box::new(ViewsRound::<V> {
            views: self.views.lend(),
            buffers: &mut self.buffers,
            indices: &mut self.indices,
            kind: PhantomData,
        })
    }

    fn commit(&mut self) {
        self.views.commit()
    }

    fn finish(self: Box<Self>) -> Column {
        let Self { views, buffers, .. } = *self;
        let buffer_len = buffers.iter().map(|b| b.len()).sum();
        views.finish(|arrow, views, validity| {
            // SAFETY: every view is a batch's view, inline or pointing into the buffer it
            // pointed into before (renumbered to its place in `buffers`), so the offsets match
            // the buffers and the data is what the batch held (valid UTF-8 for strings).
            unsafe {
                BinaryViewArrayGeneric::<V>::new_unchecked_unknown_md(
                    arrow,
                    views.into(),
                    buffers.into(),
                    validity,
                    Some(buffer_len),
                )
            }
            .boxed()
        })
    }
}

impl<'a, V: ViewType + ?Sized> Round<'a> for ViewsRound<'a, V> {
    fn room(&self) -> usize {
        self.views.free.len()
    }

    fn append(&mut self, chunk: &ArrayRef, scope: &Scope<'a>) -> PolarsResult<()> {
        let array: &BinaryViewArrayGeneric<V> = downcast(chunk, self.views.arrow)?;
        // Where this chunk's buffers are in the output's, by the chunk's own index.
        let renumber = array
            .data_buffers()
            .iter()
            .map(|b| {
                let key = (b.as_slice().as_ptr() as usize, b.len());
                *self.indices.entry(key).or_insert_with(|| {
                    self.buffers.push(b.clone());
                    (self.buffers.len() - 1) as u32
                })
            })
            .collect::<Vec<u32>>();
        let slots = self.views.claim(array);
        let views = array.views().clone();
        scope.spawn(move |_| {
            let same_numbers = renumber.iter().enumerate().all(|(i, &n)| i as u32 == n);
            for (slot, &v) in slots.iter_mut().zip(views.iter()) {
                let mut v = v;
                if !same_numbers && v.length > View::MAX_INLINE_SIZE {
                    // A null's view may point nowhere: it keeps its index.
                    if let Some(&n) = renumber.get(v.buffer_idx as usize) {
                        v.buffer_idx = n;
                    }
                }
                slot.write(v);
            }
        });
        Ok(())
    }
}

/// Any other column: the batches' chunks, kept.
struct Chunks {
    name: PlSmallStr,
    dtype: DataType,
    arrow: ArrowDataType,
    chunks: Vec<ArrayRef>,
}

impl Chunks {
    fn new(name: PlSmallStr, dtype: DataType, arrow: ArrowDataType) -> Self {
        Self {
            name,
            dtype,
            arrow,
            chunks: Vec::new(),
        }
    }
}

impl Output for Chunks {
    fn room(&self) -> usize {
        usize::MAX
    }

    fn grow(&mut self, _rows: usize) -> Result<(), TryReserveError> {
        Ok(())
    }

    fn round(&mut self) -> Box<dyn Round<'_> + '_> {
        Box::new(ChunksRound {
            arrow: &self.arrow,
            chunks: &mut self.chunks,
        })
    }

    fn commit(&mut self) {}

    fn finish(self: Box<Self>) -> Column {
        let Self {
            name,
            dtype,
            chunks,
            ..
        } = *self;
        if chunks.is_empty() {
            return Column::new_empty(name, &dtype);
        }
        // SAFETY: the chunks are the batches' chunks of this column, built by Polars for `dtype`.
        unsafe { Series::from_chunks_and_dtype_unchecked(name, chunks, &dtype) }.into()
    }
}

struct ChunksRound<'a> {
    arrow: &'a ArrowDataType,
    chunks: &'a mut Vec<ArrayRef>,
}

impl<'a> Round<'a> for ChunksRound<'a> {
    fn room(&self) -> usize {
        usize::MAX
    }

    fn append(&mut self, chunk: &ArrayRef, _scope: &Scope<'a>) -> PolarsResult<()> {
        same_dtype(chunk, self.arrow)?;
        self.chunks.push(chunk.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;
    use polars_arrow::array::Utf8ViewArray;

    use super::{assemble, one_chunk_frame, HELD_BYTES};

    /// `n` rows from row `start`: integers with nulls only past row 150,000, floats, dates,
    /// short and long strings, binary, booleans and lists.
    fn batch(start: usize, n: usize) -> DataFrame {
        let rows = start..start + n;
        let long = "y".repeat(40);
        let list = rows
            .clone()
            .map(|i| Series::new("".into(), vec![i as i32; i % 3]))
            .collect::<Vec<_>>();
        df!(
            "i64" => rows.clone().map(|i| (i < 150_000 || i % 7 != 0).then_some(i as i64)).collect::<Vec<_>>(),
            "f32" => rows.clone().map(|i| i as f32 / 3.0).collect::<Vec<_>>(),
            "date" => rows.clone().map(|i| i as i32).collect::<Vec<_>>(),
            "s" => rows.clone().map(|i| match i % 5 {
                0 => None,
                1 => Some(format!("{long}{i}")),
                _ => Some(format!("s{}", i % 97)),
            }).collect::<Vec<_>>(),
            "bin" => rows.clone().map(|i| format!("{long}{}", i % 11).into_bytes()).collect::<Vec<_>>(),
            "b" => rows.clone().map(|i| i % 2 == 0).collect::<Vec<_>>(),
            "list" => list,
        )
        .unwrap()
        .lazy()
        .with_columns([
            col("date").cast(DataType::Date),
            col("list").cast(DataType::List(Box::new(DataType::Int32))),
        ])
        .collect()
        .unwrap()
    }

    fn batches(sizes: &[usize]) -> Vec<DataFrame> {
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                start += n;
                batch(start - n, n)
            })
            .collect()
    }

    fn stacked(batches: &[DataFrame]) -> DataFrame {
        polars_core::utils::accumulate_dataframes_vertical_unchecked(batches.iter().cloned())
    }

    #[test]
    fn batches_past_the_held_bytes_become_one_chunk_per_copied_column() {
        // Held whole (the read ends within the held bytes: chunks kept), held in part, and
        // copied from the first batch on: the output then grows five times, the first nulls
        // coming after several rounds.
        let sizes = [7, 40_000, 1, 30_000, 0, 90_000, 50_000, 12_345];
        let input = batches(&sizes);
        let bytes = input.iter().map(|b| b.estimated_size()).sum::<usize>();
        assert!(bytes < HELD_BYTES, "{bytes} bytes");
        let rows = sizes.iter().sum::<usize>();
        let nulls = (150_000..rows).filter(|i| i % 7 == 0).count();
        for hold in [HELD_BYTES, bytes / 3, 0] {
            let schema = input[0].schema().clone();
            let out = assemble(input.clone().into_iter().map(Ok), schema, hold).unwrap();
            assert!(out.equals_missing(&stacked(&input)), "holding {hold}");
            assert_eq!(out.schema(), input[0].schema());
            let copied = hold < bytes;
            for c in ["i64", "f32", "date", "s", "bin"] {
                let chunks = out.column(c).unwrap().n_chunks();
                assert_eq!(chunks == 1, copied, "{c}: {chunks} chunks, holding {hold}");
            }
            // Booleans and lists keep the batches' chunks.
            assert!(out.column("b").unwrap().n_chunks() > 1);
            assert_eq!(out.column("i64").unwrap().null_count(), nulls);
        }
    }

    #[test]
    fn logical_dtypes_keep_their_dtype_and_values() {
        // Each batch of its own frame, as decoded units are: categories, enums, decimals,
        // temporal types with units and zones, structs, null columns.
        let batch = |start: i64| {
            let v = (start..start + 700).collect::<Vec<_>>();
            let words = v
                .iter()
                .map(|i| ["a", "b", "c"][(*i % 3) as usize])
                .collect::<Vec<_>>();
            df!("i" => &v, "w" => &words)
                .unwrap()
                .lazy()
                .select([
                    col("w")
                        .cast(DataType::from_categories(Categories::global()))
                        .alias("cat"),
                    col("w")
                        .cast(DataType::from_frozen_categories(
                            FrozenCategories::new(["a", "b", "c"]).unwrap(),
                        ))
                        .alias("enum"),
                    col("i").cast(DataType::Decimal(20, 3)).alias("dec"),
                    col("i")
                        .cast(DataType::Datetime(
                            TimeUnit::Microseconds,
                            Some(TimeZone::UTC),
                        ))
                        .alias("ts"),
                    col("i")
                        .cast(DataType::Duration(TimeUnit::Nanoseconds))
                        .alias("dur"),
                    (col("i") * lit(1_000_000_000i64))
                        .cast(DataType::Time)
                        .alias("time"),
                    as_struct(vec![col("i"), col("w")]).alias("struct"),
                    lit(NULL).alias("null"),
                    col("i").cast(DataType::UInt128).alias("u128"),
                ])
                .collect()
                .unwrap()
        };
        let input = [0, 700, 1400].map(batch).to_vec();
        let out = assemble(
            input.clone().into_iter().map(Ok),
            input[0].schema().clone(),
            0,
        )
        .unwrap();
        assert_eq!(out.schema(), input[0].schema());
        assert!(out.equals_missing(&stacked(&input)));
        for c in ["cat", "enum", "dec", "ts", "dur", "time", "u128"] {
            assert_eq!(out.column(c).unwrap().n_chunks(), 1, "{c}");
        }
    }

    #[test]
    fn slices_of_one_string_array_share_its_buffers_once() {
        let whole = batch(0, 10_000);
        let input = (0..10)
            .map(|k| whole.slice(k * 1_000, 1_000))
            .collect::<Vec<_>>();
        let out = assemble(input.into_iter().map(Ok), whole.schema().clone(), 0).unwrap();
        assert!(out.equals_missing(&whole));
        assert_eq!(out.column("s").unwrap().n_chunks(), 1);
        let buffers = |df: &DataFrame| {
            let s = df.column("s").unwrap().as_materialized_series().rechunk();
            let a = s.chunks()[0]
                .as_any()
                .downcast_ref::<Utf8ViewArray>()
                .unwrap();
            a.data_buffers().len()
        };
        assert_eq!(buffers(&out), buffers(&whole));
    }

    #[test]
    fn an_error_ends_the_read_with_that_error() {
        // While batches are held, and while they are copied.
        for hold in [HELD_BYTES, 0] {
            let input = batches(&[100, 100])
                .into_iter()
                .map(Ok)
                .chain([Err(
                    polars_err!(ComputeError: "unit 3 of f.parquet is corrupt"),
                )])
                .chain(batches(&[100]).into_iter().map(Ok));
            let e = assemble(input, batch(0, 0).schema().clone(), hold).unwrap_err();
            assert!(
                e.to_string().contains("unit 3 of f.parquet is corrupt"),
                "{e}"
            );
        }
    }

    #[test]
    fn no_batches_give_the_empty_frame_of_the_schema() {
        let schema = batch(0, 0).schema().clone();
        let out = one_chunk_frame(std::iter::empty(), schema.clone()).unwrap();
        assert_eq!(out.height(), 0);
        assert_eq!(out.schema(), &schema);
    }

    #[test]
    fn batches_without_columns_add_up_their_heights() {
        for hold in [HELD_BYTES, 0] {
            let input = [3, 0, 70_000].map(DataFrame::empty_with_height);
            let out = assemble(input.into_iter().map(Ok), Arc::new(Schema::default()), hold);
            assert_eq!(out.unwrap().shape(), (70_003, 0));
        }
    }

    #[test]
    fn a_batch_whose_column_changed_dtype_is_an_error() {
        let a = df!("x" => [1i64, 2]).unwrap();
        let b = df!("x" => [1i32, 2]).unwrap();
        let e = assemble([Ok(a.clone()), Ok(b)].into_iter(), a.schema().clone(), 0).unwrap_err();
        assert!(e.to_string().contains("first batch"), "{e}");
    }
}
