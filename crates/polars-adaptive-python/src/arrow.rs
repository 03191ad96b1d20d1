//! Frames handed to Python through the Arrow C stream interface, without copying buffers.
//!
//! A batch is exported as a stream of one struct array (Arrow's form of a record batch) with
//! Polars' own array types, string and binary columns as views (`vu`, `vz`), which Python Polars
//! imports as they are (`ArrowBatch::plain`: as large offset arrays, for pyarrow and Ray).
//! Python makes a frame of it with `pl.Series(batch).struct.unnest()`, which consumes the capsule.

use std::sync::Mutex;

use polars::prelude::*;
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::error::take_once;

/// One frame on its way to Python, readable once through `__arrow_c_stream__`.
#[pyclass(module = "polars_adaptive._native", frozen)]
pub struct ArrowBatch {
    frame: Mutex<Option<DataFrame>>,
    height: usize,
    width: usize,
    compat: CompatLevel,
}

impl ArrowBatch {
    pub fn new(frame: DataFrame) -> Self {
        Self {
            height: frame.height(),
            width: frame.width(),
            frame: Mutex::new(Some(frame)),
            compat: CompatLevel::newest(),
        }
    }

    /// A frame for consumers other than Python Polars (pyarrow, Ray's object store, which
    /// cannot serialize string views): strings and binary as large (offset) arrays.
    pub fn plain(frame: DataFrame) -> Self {
        Self {
            compat: CompatLevel::oldest(),
            ..Self::new(frame)
        }
    }
}

#[pymethods]
impl ArrowBatch {
    /// Rows; Python needs it for a frame of no columns, which Arrow cannot carry.
    #[getter]
    fn height(&self) -> usize {
        self.height
    }

    #[getter]
    fn width(&self) -> usize {
        self.width
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // Polars reads our schema as it is; a requested schema is a hint we may ignore.
        let _ = requested_schema;
        let frame = take_once(&self.frame, "batch")?;
        let stream = export(frame, self.compat);
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// The frame as a C stream of struct arrays, one per chunk.
fn export(mut frame: DataFrame, compat: CompatLevel) -> ffi::ArrowArrayStream {
    let fields: Vec<Field> = frame
        .schema()
        .iter_fields()
        .map(|f| f.to_arrow(compat))
        .collect();
    let dtype = ArrowDataType::Struct(fields);
    let chunks: Vec<PolarsResult<Box<dyn Array>>> = match frame.height() {
        // A frame of no rows (a scan's schema) is one empty batch built from the fields:
        // materializing its columns would make Polars 0.55.2 zero its 8 MiB shared buffer of
        // zeroes (`Buffer::zeroed`, even for 0 bytes): P2's first scan in a process took 7 ms
        // and 8.5 MiB more.
        0 if frame.width() > 0 => vec![Ok(
            Box::new(StructArray::new_empty(dtype.clone())) as Box<dyn Array>
        )],
        _ => {
            // Columns chunked at different row offsets cannot form record batches.
            if frame.should_rechunk() {
                frame.rechunk_mut();
            }
            frame
                .iter_chunks(compat, false)
                .map(|batch| {
                    let len = batch.len();
                    let arrays = batch.into_arrays();
                    Ok(Box::new(StructArray::new(dtype.clone(), len, arrays, None))
                        as Box<dyn Array>)
                })
                .collect()
        }
    };
    let field = Field::new(PlSmallStr::EMPTY, dtype, false);
    ffi::export_iterator(Box::new(chunks.into_iter()), field)
}

/// A frame from a Python object with `__arrow_c_stream__` (a Python Polars frame, a pyarrow
/// table): the stream's batches, as Polars 0.55.2 imports them.
pub fn import(obj: &Bound<'_, PyAny>) -> PyResult<DataFrame> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast_into::<PyCapsule>()?;
    let ptr = capsule
        .pointer_checked(Some(c"arrow_array_stream"))?
        .cast::<ffi::ArrowArrayStream>();
    // SAFETY: a capsule named "arrow_array_stream" holds an ArrowArrayStream (the Arrow
    // PyCapsule interface); moving it out and leaving a released one behind is how a consumer
    // takes ownership.
    let stream = unsafe { std::ptr::replace(ptr.as_ptr(), ffi::ArrowArrayStream::empty()) };
    let frames = (|| {
        // SAFETY: the stream fulfils the C stream interface (see above).
        let mut reader = unsafe { ffi::ArrowArrayStreamReader::try_new(Box::new(stream))? };
        let fields = match reader.field().dtype() {
            ArrowDataType::Struct(fields) => fields.clone(),
            other => {
                polars_bail!(ComputeError: "an Arrow stream of {other:?}, not of record batches")
            }
        };
        let mut frames = Vec::new();
        // SAFETY: as above.
        while let Some(array) = unsafe { reader.next() } {
            let array = array?;
            let array = array
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(
                    || polars_err!(ComputeError: "an Arrow batch that is not a struct array"),
                )?
                .clone();
            frames.push(DataFrame::try_from(array)?);
        }
        if frames.is_empty() {
            let schema: Schema = fields.iter().map(polars::prelude::Field::from).collect();
            return Ok(DataFrame::empty_with_schema(&schema));
        }
        Ok(polars_core::utils::accumulate_dataframes_vertical_unchecked(frames))
    })();
    frames.map_err(crate::error::to_py)
}
