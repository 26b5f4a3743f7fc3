"""The demo stage: the deterministic synthetic street (``demo.synthetic``), the live simulator that
drives the real gate bridge policies, and the anomalies injected with ground truth.

No production stage imports it; the CLI, the tests and the benchmarks do.
"""
