//! String columns decoded as Polars categoricals of one mapping, for a consumer that only
//! compares their values (a group key): a dictionary-encoded chunk decodes its codes alone,
//! and each dictionary entry a unit uses is looked up in the mapping once, instead of every
//! row's string being copied out and hashed.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::datatypes::{ArrowDataType, IntegerType, Metadata, DTYPE_CATEGORICAL_NEW};

/// String columns a scan hands out as `Categorical` under one mapping where a unit's pages
/// are all dictionary-encoded, and as `String` elsewhere (a chunk written plain, or past a
/// writer's fallback from a dictionary grown too large): a batch holds either dtype, and the
/// scan's schema says `String`.
///
/// Codes are stable for as long as the mapping lives: the same string has the same code in
/// every batch of every file, so a consumer may index state by code. Mapping costs one hash
/// per distinct entry a unit uses; the mapping holds every string met until dropped.
#[derive(Debug, Clone)]
pub struct CategoricalColumns {
    columns: Vec<PlSmallStr>,
    categories: Arc<Categories>,
    /// Held here: `Categories` keeps only a weak reference, so a mapping no batch holds any
    /// more would be dropped and the next unit's codes would start again from 0.
    mapping: Arc<CategoricalMapping>,
}

impl CategoricalColumns {
    /// `columns` under a new mapping of their own.
    pub fn new<S: Into<PlSmallStr>>(columns: impl IntoIterator<Item = S>) -> Self {
        let categories = Categories::random(PlSmallStr::EMPTY, CategoricalPhysical::U32);
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            mapping: categories.mapping(),
            categories,
        }
    }

    /// The dtype of the columns' dictionary-encoded units.
    pub fn dtype(&self) -> DataType {
        DataType::Categorical(self.categories.clone(), self.mapping.clone())
    }

    /// Whether `name` is one of the columns.
    pub fn contains(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    /// The same mapping for the columns of `self` that `keep` accepts.
    pub(crate) fn retain(&self, keep: impl Fn(&PlSmallStr) -> bool) -> Self {
        Self {
            columns: self.columns.iter().filter(|c| keep(c)).cloned().collect(),
            categories: self.categories.clone(),
            mapping: self.mapping.clone(),
        }
    }

    /// The arrow field that makes Polars' decoder read a string chunk's dictionary codes
    /// (its `CategoricalDecoder`, which refuses a page that is not dictionary-encoded).
    pub(crate) fn codes_field(
        field: &polars_arrow::datatypes::Field,
    ) -> polars_arrow::datatypes::Field {
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        let metadata: Metadata = [(DTYPE_CATEGORICAL_NEW.into(), PlSmallStr::EMPTY)].into();
        polars_arrow::datatypes::Field::new(field.name.clone(), dtype, field.is_nullable)
            .with_metadata(metadata)
    }

    /// `arrays` (Polars' decoder's output for `codes_field`) as one categorical column.
    pub(crate) fn column_of_codes(
        &self,
        name: PlSmallStr,
        arrays: Vec<Box<dyn Array>>,
    ) -> PolarsResult<Series> {
        let mapping = &self.mapping;
        let mut chunks = Vec::with_capacity(arrays.len());
        for array in arrays {
            let Some(dict) = array.as_any().downcast_ref::<DictionaryArray<u32>>() else {
                polars_bail!(ComputeError: "expected dictionary codes, got {:?}", array.dtype());
            };
            let Some(values) = dict.values().as_any().downcast_ref::<Utf8ViewArray>() else {
                polars_bail!(ComputeError: "expected a string dictionary, got {:?}", dict.values().dtype());
            };
            // An entry is looked up once, and only when a row uses it: a unit that reads a
            // few rows of a large dictionary hashes only the entries it reads.
            let keys = dict.keys();
            let out_of_bounds = |k: u32| polars_err!(ComputeError: "dictionary index {k} out of bounds for a dictionary of {} entries", values.len());
            let cats: Vec<u32> = match keys.validity().filter(|v| v.unset_bits() > 0) {
                // Without nulls, in passes the compiler keeps branch-free: the largest key,
                // the entries used, then each row's code.
                None => {
                    let max = keys.values().iter().copied().max().unwrap_or(0);
                    if !keys.is_empty() && max as usize >= values.len() {
                        return Err(out_of_bounds(max));
                    }
                    let mut used = vec![false; values.len()];
                    keys.values().iter().for_each(|&k| used[k as usize] = true);
                    let remap = used
                        .iter()
                        .enumerate()
                        .map(|(i, &u)| match u {
                            true => mapping.insert_cat(values.value(i)),
                            false => Ok(0),
                        })
                        .collect::<PolarsResult<Vec<u32>>>()?;
                    keys.values().iter().map(|&k| remap[k as usize]).collect()
                }
                // A null row's key is whatever the decoder left there: it is not looked up.
                Some(valid) => {
                    let mut remap = vec![u32::MAX; values.len()];
                    let mut lookup = |k: u32| -> PolarsResult<u32> {
                        let slot = remap.get_mut(k as usize).ok_or_else(|| out_of_bounds(k))?;
                        if *slot == u32::MAX {
                            *slot = mapping.insert_cat(values.value(k as usize))?;
                        }
                        Ok(*slot)
                    };
                    keys.values()
                        .iter()
                        .zip(valid.iter())
                        .map(|(&k, v)| if v { lookup(k) } else { Ok(0) })
                        .collect::<PolarsResult<_>>()?
                }
            };
            let codes =
                PrimitiveArray::new(ArrowDataType::UInt32, cats.into(), keys.validity().cloned());
            chunks.push(codes);
        }
        let codes = match chunks.is_empty() {
            true => UInt32Chunked::full_null(name, 0),
            false => UInt32Chunked::from_chunk_iter(name, chunks),
        };
        // SAFETY: every code was handed out by `mapping`, which `self.dtype()` carries.
        let ca =
            unsafe { Categorical32Chunked::from_cats_and_dtype_unchecked(codes, self.dtype()) };
        Ok(ca.into_series())
    }
}
