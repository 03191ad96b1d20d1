//! A fixed-seed slice of the difftest: 300 generated cases through every execution path.

#[test]
fn three_hundred_generated_cases_answer_like_stock() {
    let scratch = tempfile::tempdir().unwrap();
    let options = xtask::difftest::Options {
        cases: 300,
        seed: 0x5eed_d1ff,
        keep_failures: None,
    };
    match xtask::difftest::run(&options, scratch.path()) {
        Ok(report) => {
            eprintln!("{report}");
            assert_eq!(report.cases, 300);
            let equal: u64 = report
                .paths
                .iter()
                .filter(|((_, verdict), _)| verdict == "equal")
                .map(|(_, n)| n)
                .sum();
            // Most cases must be answered, not rejected by both sides.
            assert!(equal >= 6 * 250, "{report}");
        }
        Err(failure) => panic!(
            "difference (shrunk): {}\n{:#?}",
            failure.message, failure.case
        ),
    }
}
