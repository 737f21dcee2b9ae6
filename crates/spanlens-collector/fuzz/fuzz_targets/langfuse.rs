#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlens_collector::fuzzing::langfuse(data));
