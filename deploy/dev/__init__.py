"""The local dev stack behind `./dev`: embedded infrastructure, services, tests, benchmarks."""
