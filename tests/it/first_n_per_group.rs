//! `first_n_per_group` equals a plain row-by-row reference on random data with null groups and
//! null ids, whatever the batch size, for integer ids (compared by their bits) and string ids
//! (row-encoded pairs).

use std::collections::HashMap;

use crate::common::{same_frame, write, Layout};
use polars::prelude::*;
use polars_adaptive::prelude::*;

/// Rows with a null-able int group, a null-able string group and a null-able id.
fn data(seed: u64, rows: usize) -> DataFrame {
    let mix =
        |i: usize, salt: u64| ((i as u64) ^ seed ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    df!(
        "g1" => (0..rows).map(|i| (mix(i, 1) % 9 != 0).then(|| (mix(i, 2) % 4) as i32)).collect::<Vec<_>>(),
        "g2" => (0..rows).map(|i| (mix(i, 3) % 7 != 0).then(|| ["a", "b", "ü"][(mix(i, 4) % 3) as usize])).collect::<Vec<_>>(),
        "id" => (0..rows).map(|i| (mix(i, 5) % 11 != 0).then(|| (mix(i, 6) % 40) as i64)).collect::<Vec<_>>(),
        // The same ids as strings: pairs then go through the generic (row-encoded) path.
        "sid" => (0..rows).map(|i| (mix(i, 5) % 11 != 0).then(|| format!("#{}", mix(i, 6) % 40))).collect::<Vec<_>>(),
        "row" => (0..rows as i64).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// The obvious loop: a row is kept when its id is one of the first `n` distinct ids of its group.
fn reference(df: &DataFrame, n: usize) -> DataFrame {
    let g1 = df.column("g1").unwrap().i32().unwrap();
    let g2 = df.column("g2").unwrap().str().unwrap();
    let id = df.column("id").unwrap().i64().unwrap();
    type Key = (Option<i32>, Option<String>);
    let mut admitted: HashMap<Key, Vec<Option<i64>>> = HashMap::new();
    let keep: Vec<bool> = (0..df.height())
        .map(|i| {
            let ids = admitted
                .entry((g1.get(i), g2.get(i).map(String::from)))
                .or_default();
            let v = id.get(i);
            if ids.contains(&v) {
                true
            } else if ids.len() < n {
                ids.push(v);
                true
            } else {
                false
            }
        })
        .collect();
    df.filter(&BooleanChunked::from_slice("".into(), &keep))
        .unwrap()
}

#[test]
fn first_n_per_group_equals_the_row_by_row_reference() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for seed in 0..6u64 {
        let mut df = data(seed, 3_000);
        let path = dir.path().join(format!("{seed}.parquet"));
        write(
            &mut df,
            &path,
            Layout {
                row_group_size: 500,
                ..Layout::default()
            },
        );
        for n in [0usize, 1, 3, 10] {
            let expected = reference(&df, n);
            for (chunk, id) in [13usize, 250, 5_000]
                .into_iter()
                .flat_map(|c| [(c, "id"), (c, "sid")])
            {
                let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(chunk));
                let ours = LazyFrame::scan_adaptive(&path, args)
                    .unwrap()
                    .adaptive()
                    .with_operator(first_n_per_group(["g1", "g2"], id, n))
                    .collect_adaptive()
                    .unwrap();
                same_frame(&ours, &expected)
                    .unwrap_or_else(|d| panic!("seed {seed}, n {n}, chunk {chunk}, id {id}: {d}"));
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 144);
}
