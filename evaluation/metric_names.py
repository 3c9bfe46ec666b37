"""Metric keys as Intel's reference_perf.csv and gen_evaluation_report.py spell them.

One place for these strings: parsers-to-metrics extraction, comparison and reports all
import them from here.
"""

from __future__ import annotations

P2P = "p2p"
MEMORY_BW = "GPU memory bandwidth"
GEMM = "gemm"
CCL = "1ccl"

P2P_UNI_WRITE = "Unidirectional Write"
P2P_UNI_READ = "Unidirectional Read"
P2P_BI_WRITE = "Bidirectional Write"
P2P_BI_READ = "Bidirectional Read"
P2P_BI = "Bidirectional"  # ze_peer of 2021-08 named no read/write for bidirectional tests
P2P_SIZES_REPORTED = ("128 MB", "256 MB")

H2D = "H2D"
D2H = "D2H"
D2D = "D2D"

CCL_OPS = ("allreduce", "allgather", "alltoall")
CCL_SIZE_REPORTED = "128MB"
CCL_BYTES_REPORTED = 134217728

UNIT_GBPS = "GB/s"
UNIT_TOPS = "TOPS"
UNIT_TFLOPS = "TFLOPS"  # gemm in floating point precisions
UNIT_US = "us"  # latencies and times
LOWER_IS_BETTER_UNITS = frozenset({UNIT_US, "ms", "ns", "s"})

# The original report's columns; ours keeps them first so existing spreadsheets work.
ORIGINAL_REPORT_COLUMNS = (
    "Category",
    "Subcategory",
    "Data/Packet Size",
    "Measured (GB/s)",
    "Reference (GB/s)",
)
REFERENCE_COLUMNS = ("Category", "Subcategory", "Data/Packet Size", "Reference")
TOPOLOGY_COLUMN = "Topology"  # optional: the class of GPU pair a P2P row is for
