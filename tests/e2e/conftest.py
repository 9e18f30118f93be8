import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "operator"))

from facteur_harness import Facteur, free_port  # noqa: E402
from operator_fixture import Operator  # noqa: E402


@pytest.fixture(scope="module")
def operator(tmp_path_factory):
    op = Operator()
    op.start(tmp_path_factory.mktemp("operator"), free_port(), free_port(), free_port(), free_port())
    yield op
    op.stop()


@pytest.fixture
def facteur_factory(operator, tmp_path):
    started = []

    def make(**overrides):
        f = Facteur(tmp_path / f"facteur{len(started)}", operator.env, **overrides)
        started.append(f)
        return f

    yield make
    for f in started:
        f.stop()


@pytest.fixture
def facteur(facteur_factory):
    return facteur_factory().start()
