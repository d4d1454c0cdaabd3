import pytest
import torch as th


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tests run in parallel workers on small networks: extra threads only contend for cores
    th.set_num_threads(1)
