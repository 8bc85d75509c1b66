"""pytest fixtures for postern's integration tests (see peers.py for the library).

Markers:
    @pytest.mark.requires("haproxy", "nginx-stream", "openssl")
        skips the test, saying which program is missing ("nginx-stream" = nginx + its stream
        module). The postern binary itself is never a reason to skip: a missing build fails.

Fixtures:
    workdir          a per-test directory (pytest's tmp_path)
    postern_bin      path of the postern binary under test ($POSTERN_BUILD/postern)
    run_postern      run_postern(*args, input=None, timeout=10) -> CompletedProcess (bytes)
    start_haproxy    start_haproxy(config_text, **kw) -> running peers.HAProxy, stopped at teardown
    start_nginx      start_nginx(stream_config_text, **kw) -> running peers.Nginx, same
    cert_factory     cert_factory(cn, key="ec") -> peers.Cert in workdir
A peer's log and config are printed when the test using it fails.
"""
import os
import subprocess

import pytest

import peers


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires(*programs): skip unless these programs are installed "
        "(haproxy, nginx, nginx-stream, openssl, ...)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in item.iter_markers("requires"):
            missing = peers.missing_programs(*marker.args)
            if missing:
                item.add_marker(pytest.mark.skip(
                    reason=f"needs {', '.join(missing)} (install with: sh scripts/install-deps.sh)"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _failed(request):
    return any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
               for when in ("setup", "call"))


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.fixture(scope="session")
def postern_bin():
    return peers.postern_binary()


@pytest.fixture
def run_postern(postern_bin):
    def run(*args, input=None, timeout=10):
        if not os.access(postern_bin, os.X_OK):
            pytest.fail(f"postern binary not built: {postern_bin} (make, or set POSTERN_BUILD)")
        return subprocess.run([postern_bin, *map(str, args)], input=input,
                              capture_output=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
    return run


def _peer_factory(request, tmp_path, cls, program):
    started = []

    def start(config_text, **kw):
        missing = peers.missing_programs(program)
        if missing:
            pytest.skip(f"needs {', '.join(missing)}")
        kw.setdefault("workdir", tmp_path / f"{cls.kind}{len(started)}")
        peer = cls(config_text, **kw)
        started.append(peer)
        return peer.start()

    yield start
    failed = _failed(request)
    for peer in reversed(started):
        peer.stop(failed=failed, reason="test failed" if failed else None)


@pytest.fixture
def start_haproxy(request, tmp_path):
    yield from _peer_factory(request, tmp_path, peers.HAProxy, "haproxy")


@pytest.fixture
def start_nginx(request, tmp_path):
    yield from _peer_factory(request, tmp_path, peers.Nginx, "nginx-stream")


@pytest.fixture
def cert_factory(tmp_path):
    def make(cn, key="ec"):
        if peers.missing_programs("openssl"):
            pytest.skip("needs openssl")
        return peers.make_cert(tmp_path / "certs", cn, key=key)
    return make


@pytest.fixture
def start_postern(request, tmp_path, postern_bin):
    """start_postern(config_text, extra_args=()) -> running peers.Postern, stopped at teardown;
    its log is printed when the test fails."""
    started = []

    def start(config_text, **kw):
        if not os.access(postern_bin, os.X_OK):
            pytest.fail(f"postern binary not built: {postern_bin}")
        srv = peers.Postern(config_text, tmp_path / f"postern{len(started)}", **kw)
        started.append(srv)
        return srv.start()

    yield start
    failed = _failed(request)
    unclean = []
    for srv in reversed(started):
        status = srv.stop()
        if failed or status != 0:
            print(f"---- postern log ({srv.dir}) ----\n{srv.log()}")
        if status != 0:
            unclean.append(status)
    # A sanitizer report, a crash or a hang at shutdown fails the test that caused it.
    if unclean and not failed:
        pytest.fail(f"postern did not exit cleanly on SIGTERM (status {unclean})")
