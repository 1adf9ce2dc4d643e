//! Messages per second for each parser, sample and operation, and Carillon's ratio to the fastest peer, as a
//! Markdown table. A plain loop on the calling thread (one core), no statistics: a quick, repeatable check that
//! does not need criterion.
//!
//! ```text
//! cargo run --release -p carillon-sip-benches --example ratio                 # 2 s per cell
//! cargo run --release -p carillon-sip-benches --example ratio -- --seconds 5
//! cargo run --release -p carillon-sip-benches --example ratio -- --iterations 20000 --parser carillon-sip
//! ```
//!
//! `--iterations N` runs exactly N iterations per cell instead of a time budget (for `valgrind --tool=callgrind`),
//! `--parser NAME` keeps one parser, `--operation parse|parse+headers` one operation. Pin the process for steadier figures: `taskset -c 1 cargo run ...`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use carillon_sip_benches::{Operation, Parser, Sample};

/// How each cell is bounded.
#[derive(Debug, Clone, Copy)]
enum Budget {
    /// Run for this long (after a tenth as long of warm-up).
    Time(Duration),
    /// Run exactly this many iterations, no warm-up.
    Iterations(u64),
}

#[derive(Debug)]
struct Options {
    budget: Budget,
    parsers: Vec<Parser>,
    operations: Vec<Operation>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        budget: Budget::Time(Duration::from_secs(2)),
        parsers: Parser::ALL.to_vec(),
        operations: Operation::ALL.to_vec(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
                if !(secs > 0.0 && secs <= 600.0) {
                    return Err("--seconds must be in (0, 600]".into());
                }
                options.budget = Budget::Time(Duration::from_secs_f64(secs));
            }
            "--iterations" => {
                let n: u64 = value()?.parse().map_err(|e| format!("--iterations: {e}"))?;
                if n == 0 {
                    return Err("--iterations must be positive".into());
                }
                options.budget = Budget::Iterations(n);
            }
            "--parser" => {
                let name = value()?;
                let parser = Parser::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
                    let known: Vec<_> = Parser::ALL.iter().map(|p| p.name()).collect();
                    format!("unknown parser {name}; one of {}", known.join(", "))
                })?;
                options.parsers = vec![parser];
            }
            "--operation" => {
                let name = value()?;
                let operation = Operation::ALL.into_iter().find(|o| o.name() == name).ok_or_else(|| {
                    let known: Vec<_> = Operation::ALL.iter().map(|o| o.name()).collect();
                    format!("unknown operation {name}; one of {}", known.join(", "))
                })?;
                options.operations = vec![operation];
            }
            "--bench" => {} // passed by `cargo bench --examples`; nothing to do
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Messages per second of `parser` doing `operation` on `input` within `budget`.
fn measure(parser: Parser, operation: Operation, input: &bytes::Bytes, budget: Budget) -> f64 {
    // Batches keep the clock reads out of the per-message cost.
    const BATCH: u64 = 256;
    match budget {
        Budget::Iterations(n) => {
            let start = Instant::now();
            for _ in 0..n {
                black_box(parser.run(operation, black_box(input)));
            }
            n as f64 / start.elapsed().as_secs_f64()
        }
        Budget::Time(limit) => {
            let warm_up = Instant::now();
            while warm_up.elapsed() < limit / 10 {
                for _ in 0..BATCH {
                    black_box(parser.run(operation, black_box(input)));
                }
            }
            let start = Instant::now();
            let mut done = 0u64;
            while start.elapsed() < limit {
                for _ in 0..BATCH {
                    black_box(parser.run(operation, black_box(input)));
                }
                done += BATCH;
            }
            done as f64 / start.elapsed().as_secs_f64()
        }
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ratio: {e}");
            return ExitCode::FAILURE;
        }
    };
    for sample in Sample::ALL {
        for &parser in &options.parsers {
            for &operation in &options.operations {
                if !parser.run(operation, &sample.bytes()) {
                    eprintln!("ratio: {} cannot {} the {} sample", parser.name(), operation.name(), sample.name());
                    return ExitCode::FAILURE;
                }
            }
        }
    }

    print!("| message | operation |");
    for parser in &options.parsers {
        print!(" {} (msg/s) |", parser.name());
    }
    println!(" Carillon / fastest peer |");
    print!("|---|---|");
    for _ in &options.parsers {
        print!("---:|");
    }
    println!("---:|");

    for sample in Sample::ALL {
        let input = sample.bytes();
        for &operation in &options.operations {
            print!("| {} | {} |", sample.name(), operation.name());
            let mut carillon = None;
            let mut fastest_peer: Option<f64> = None;
            for &parser in &options.parsers {
                let rate = measure(parser, operation, &input, options.budget);
                print!(" {rate:.0} |");
                if parser == Parser::Carillon {
                    carillon = Some(rate);
                } else {
                    fastest_peer = Some(fastest_peer.map_or(rate, |f| f.max(rate)));
                }
            }
            match (carillon, fastest_peer) {
                (Some(c), Some(p)) => println!(" {:.2}x |", c / p),
                _ => println!(" - |"),
            }
        }
    }
    ExitCode::SUCCESS
}
