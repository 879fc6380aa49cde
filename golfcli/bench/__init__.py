"""`golf bench ...`: speed and size benchmarks anyone can rerun, recorded as JSON."""
