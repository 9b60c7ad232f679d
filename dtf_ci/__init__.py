"""dtf: CI-native distributed, hardware-aware testing and benchmarking.

The package is a set of small modules named after the design's words (suite, plan, run,
shard, history, aggregate, stats, report). Heavy libraries are imported lazily by the
modules that need them so that ``dtf --help`` stays fast.
"""

__version__ = "0.1.0"
