"""Fixtures: the scripted model (one per session), an `agentry dev` per conformance module, a
TLS and token hub (`secure_hub`) per security module, and their logs attached to failing tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Generator, Iterator, Tuple

import pytest

pytest.register_assert_rewrite("conformance")

import agentry  # noqa: E402
from conformance import Scenario  # noqa: E402
from harness import REPO, SCENARIO, DevCluster, ScriptedModel, SecureHub, binary  # noqa: E402

SOURCE_TREE = REPO / "sdk" / "python" / "src"


def pytest_configure(config: pytest.Config) -> None:
    # scripts/sdk-python.sh tests what pip installed, not the source tree: prove it.
    if os.environ.get("AGENTRY_SDK_EXPECT_INSTALLED") == "1":
        location = Path(agentry.__file__).resolve()
        if SOURCE_TREE in location.parents:
            raise pytest.UsageError(f"agentry was imported from the source tree ({location}), not the installed package")


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    data = json.loads(SCENARIO.read_text())
    return Scenario(
        model=data["model"],
        tools=list(data["tools"]),
        input=data["input"],
        answer=data["answer"],
        trace_after=int(data["trace_after"]),
        restart_after_event=data["restart_after_event"],
    )


@pytest.fixture(scope="session")
def binaries() -> Tuple[Path, Path]:
    """(agentry, agentry-scripted-model); fails (never skips) when one is missing."""
    try:
        agentry_bin = binary("AGENTRY_BIN", REPO / "target" / "debug" / "agentry")
        model_bin = binary("AGENTRY_SCRIPTED_MODEL_BIN", REPO / "target" / "debug" / "agentry-scripted-model")
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    return agentry_bin, model_bin


@pytest.fixture(scope="session")
def scripted_model(binaries: Tuple[Path, Path]) -> Iterator[ScriptedModel]:
    """One scripted model serves every agent of the session (replies are chosen by step)."""
    try:
        model = ScriptedModel(binaries[1])
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield model
    model.stop()


@pytest.fixture(scope="module")
def dev(
    binaries: Tuple[Path, Path], scripted_model: ScriptedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevCluster]:
    """A fresh `agentry dev` for the module, killed at teardown."""
    try:
        cluster = DevCluster(binaries[0], scripted_model.url, tmp_path_factory.mktemp("agentry-dev"))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield cluster
    cluster.kill()


@pytest.fixture(scope="module")
def secure_hub(binaries: Tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureHub]:
    """A fresh `agentry hub serve` with TLS and tokens for the module; SIGTERM at teardown."""
    try:
        hub = SecureHub(binaries[0], tmp_path_factory.mktemp("agentry-secure-hub"))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def state() -> Dict[str, Any]:
    """What a conformance step leaves for a later one (step 2 reads step 1's events)."""
    return {}


@pytest.fixture(autouse=True)
def no_hub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests name their hub, token and TLS files; the caller's AGENTRY_HUB / AGENTRY_TOKEN /
    AGENTRY_CA / AGENTRY_CLIENT_CERT / AGENTRY_CLIENT_KEY must not leak in."""
    for name in ("AGENTRY_HUB", "AGENTRY_TOKEN", "AGENTRY_CA", "AGENTRY_CLIENT_CERT", "AGENTRY_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    # grpcio's default roots (an `https://` hub without a CA) must be its bundled set.
    monkeypatch.delenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", raising=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    funcargs: Dict[str, Any] = getattr(item, "funcargs", {})
    cluster = funcargs.get("dev")
    if isinstance(cluster, DevCluster):
        report.sections.append(("agentry dev output", cluster.log_text()[-20000:]))
    hub = funcargs.get("secure_hub")
    if isinstance(hub, SecureHub):
        report.sections.append(("agentry hub output", hub.log_text()[-20000:]))
    model = funcargs.get("scripted_model")
    if isinstance(model, ScriptedModel):
        report.sections.append(("scripted model output", "".join(model.log)[-5000:]))

