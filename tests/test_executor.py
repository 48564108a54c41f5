import pytest

from codesift.data.dedup import exact_key
from codesift.data.executor import run_tasks


def square(x):
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_keeps_task_order(workers):
    assert run_tasks(square, list(range(10)), "local", workers) == [x * x for x in range(10)]


def test_ray_executor_matches_local(local_ray):
    texts = [f"def f{i}(): pass" for i in range(10)]
    assert run_tasks(exact_key, texts, "ray", 2) == [exact_key(t) for t in texts]


def test_unknown_executor():
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        run_tasks(square, [1], "slurm")
