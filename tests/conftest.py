import os

import pytest
import torch

# The tests' problems are small: one thread each (kernels/threads.py explains why the pool
# only costs there, and 30x when another program keeps a core busy). LAGOT_TEST_THREADS=0
# keeps torch's default; a test that needs more threads sets them itself.
_THREADS = int(os.environ.get("LAGOT_TEST_THREADS", "1"))
if _THREADS > 0:
    torch.set_num_threads(_THREADS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))  # the command lines the tests start


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
