# The benchmarks' made-up secrets and log level (sourced by the bench scripts). The receipt
# key is a fresh P-256 key per run; none of these is ever a real credential.
export BOOKET_BENCH_SECRET='demo~Sim.Secret-Value_0123456789abcdef' BOOKET_BENCH_SLOT_KEY=bench-slot-key-0123456789abcdef-0123456789 BOOKET_LOG=warn
export BOOKET_BENCH_EWS_PASSWORD='demo~Ews.Password-0123456789'
BOOKET_BENCH_RECEIPT_KEY="$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)"
export BOOKET_BENCH_RECEIPT_KEY
