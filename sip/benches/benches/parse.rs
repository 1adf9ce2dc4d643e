//! Criterion comparison of Carillon's parser with rsipstack and sipx-sip on the typical campus messages.
//!
//! One group per operation and message (`parse/INVITE`, `parse+headers/INVITE`, ...), one function per parser,
//! so criterion prints the three side by side. Throughput is in message octets, so MiB/s compares directly.
//! What each operation does for each parser is in the library (`src/lib.rs`).

use std::hint::black_box;

use carillon_sip_benches::{Operation, Parser, Sample};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn compare_parsers(c: &mut Criterion) {
    for operation in Operation::ALL {
        for sample in Sample::ALL {
            let input = sample.bytes();
            let mut group = c.benchmark_group(format!("{}/{}", operation.name(), sample.name()));
            group.throughput(Throughput::Bytes(input.len() as u64));
            for parser in Parser::ALL {
                assert!(
                    parser.run(operation, &input),
                    "{} cannot {} the {} sample: the comparison would be meaningless",
                    parser.name(),
                    operation.name(),
                    sample.name()
                );
                group.bench_function(parser.name(), |b| b.iter(|| parser.run(operation, black_box(&input))));
            }
            group.finish();
        }
    }
}

criterion_group!(benches, compare_parsers);
criterion_main!(benches);
