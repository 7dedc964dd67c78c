"""The exception classes cover exactly the server's catalogue (src/errors.ts),
and the server's errors arrive as them, with code, message and details."""

import re

import numpy as np
import pytest

import spikeserve
from spikeserve import Client, SpikeserveError
from spikeserve.errors import ERROR_CLASSES

from conftest import REPO, SEED_NETWORK


def catalogue() -> dict[str, int]:
    src = (REPO / "src" / "errors.ts").read_text()
    body = src[src.index("ERROR_CATALOGUE = {") : src.index("} as const")]
    return {code: int(status) for code, status in re.findall(r"^\s*([A-Z_]+): \{ status: (\d+),", body, re.M)}


def test_one_class_per_catalogue_code_with_its_status():
    cat = catalogue()
    assert len(cat) >= 20, "the catalogue was not read"
    assert {code: cls.status for code, cls in ERROR_CLASSES.items()} == cat
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, SpikeserveError) and cls.code == code
        assert getattr(spikeserve, cls.__name__) is cls, f"{cls.__name__} is exported"


def test_server_errors_raise_their_class(server):
    with Client(server.url) as c:
        s = c.create_session(SEED_NETWORK, seed=1)
        with pytest.raises(spikeserve.InputInvalidError) as e:
            s.step({"pre": [1, 2, 3]})
        assert e.value.code == "INPUT_INVALID" and e.value.status == 400
        assert "inputs.pre" in e.value.message and e.value.details.get("field") == "inputs.pre"
        with pytest.raises(spikeserve.RewardNotPendingError):
            s.reward(1.0)
        with pytest.raises(spikeserve.ConnectionNotFoundError):
            s.weights("nope")
        with pytest.raises(spikeserve.WeightsInvalidError):
            s.set_weights("pre_post", np.ones((3, 3)))
        with pytest.raises(spikeserve.SpecInvalidError):
            c.create_session({"dt": -1})
        with s.connect() as ws:
            with pytest.raises(spikeserve.InputInvalidError) as e:
                ws.step({"pre": [1]})
            assert e.value.details.get("field") == "inputs.pre"
            with pytest.raises(spikeserve.WsControllerTakenError):
                s.connect()
            assert ws.step({"pre": [100, 0]}).step == 1, "the socket goes on after an error"
        s.delete()
        with pytest.raises(spikeserve.SessionNotFoundError):
            s.get()
        with pytest.raises(spikeserve.SessionNotFoundError):
            s.connect()
