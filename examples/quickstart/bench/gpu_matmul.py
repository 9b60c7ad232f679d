"""A GPU benchmark: planned only on targets with an NVIDIA GPU and CUDA >= 12.

On a laptop without one, `dtf local` lists this task as unschedulable, with the requirement
that failed, instead of silently dropping it.
"""

import json
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("gpu_matmul needs PyTorch with CUDA")

a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(20):
    a @ a
torch.cuda.synchronize()
with open(sys.argv[1], "w") as fh:
    json.dump([{"name": "matmul_4096_fp16", "unit": "s", "value": (time.perf_counter() - start) / 20}], fh)
