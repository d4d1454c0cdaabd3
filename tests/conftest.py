import os

# The suite checks the maths against hand computations on CPU tensors, so its models must live on the CPU even on a
# machine with a GPU (SB3's device="auto" would pick the GPU). Only tests/sb3/test_device.py runs on an accelerator:
# SB3_MAXENT_TEST_DEVICE=cuda python -m pytest tests/sb3/test_device.py. CUDA reads this variable when it first
# initialises, which nothing has done at collection time.
if os.environ.get("SB3_MAXENT_TEST_DEVICE", "cpu") == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest
import torch as th


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tests run in parallel workers on small networks: extra threads only contend for cores
    th.set_num_threads(1)
