//! The PyArrow streaming post's program, re-implemented in Rust as the post wrote it: read
//! record batches of 1,024 rows, loop over rows keeping those whose id is one of the first `n`
//! ids seen in their group, and flush kept rows to the output file every 100,000 rows.
//! P5 measures `first_n_per_group` against it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Array, ArrayRef, Int64Array, Int64Builder};
use arrow::record_batch::RecordBatch;
use arrow::record_batch::RecordBatchReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

const BATCH_ROWS: usize = 1_024;
const FLUSH_ROWS: usize = 100_000;

/// Returns the rows written.
pub fn run(input: &Path, output: &Path, n: usize) -> Result<usize> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(input)?)?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    let schema = reader.schema();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(output)?, schema.clone(), None)?;
    let mut seen: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut builders: Vec<Int64Builder> = (0..3).map(|_| Int64Builder::new()).collect();
    let (mut pending, mut written) = (0, 0);
    for batch in reader {
        let batch = batch?;
        let col = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let (group, id, row) = (col(0), col(1), col(2));
        for r in 0..batch.num_rows() {
            let ids = seen.entry(group.value(r)).or_default();
            let keep = if ids.contains(&id.value(r)) {
                true
            } else if ids.len() < n {
                ids.push(id.value(r));
                true
            } else {
                false
            };
            if keep {
                builders[0].append_value(group.value(r));
                builders[1].append_value(id.value(r));
                builders[2].append_value(row.value(r));
                pending += 1;
            }
        }
        if pending >= FLUSH_ROWS {
            written += flush(&mut writer, &schema, &mut builders)?;
            pending = 0;
        }
    }
    written += flush(&mut writer, &schema, &mut builders)?;
    writer.close()?;
    Ok(written)
}

fn flush(
    writer: &mut ArrowWriter<std::fs::File>,
    schema: &arrow::datatypes::SchemaRef,
    builders: &mut [Int64Builder],
) -> Result<usize> {
    let columns: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let rows = columns[0].len();
    if rows > 0 {
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        // Each flush is its own row group, as the post's writer did.
        writer.flush()?;
    }
    Ok(rows)
}
