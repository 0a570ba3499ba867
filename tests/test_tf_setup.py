from __future__ import annotations

import gc
import os

import pytest

from batch_ocr import tf_setup

@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse2 amx_tile amx_bf16", True),
    ("fpu sse2 avx2 avx512f", False),
])
def test_bfloat16_is_taken_from_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n", encoding="ascii")
    assert tf_setup.cpu_has_bfloat16(str(cpuinfo)) is expected
    assert tf_setup.cpu_has_bfloat16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True)])
def test_environment_forces_bfloat16_on_or_off(monkeypatch, setting, expected):
    monkeypatch.setenv(tf_setup.BF16_ENV, setting)
    assert tf_setup.use_bfloat16_inference() is expected


def test_auto_follows_the_cpu(monkeypatch):
    monkeypatch.delenv(tf_setup.BF16_ENV, raising=False)
    for has_it in (False, True):
        monkeypatch.setattr(tf_setup, "cpu_has_bfloat16", lambda: has_it)
        assert tf_setup.use_bfloat16_inference() is has_it


@pytest.mark.parametrize("enabled_before", [True, False])
def test_collector_is_off_while_loading_and_what_loaded_is_frozen(enabled_before):
    was_enabled = gc.isenabled()
    gc.unfreeze()
    try:
        (gc.enable if enabled_before else gc.disable)()
        with tf_setup.collector_paused():
            assert not gc.isenabled()
            made = [[i] for i in range(1000)]  # tracked containers, as an import makes
        assert gc.isenabled() is enabled_before
        assert gc.get_freeze_count() >= len(made)
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()


def test_collector_comes_back_when_loading_fails():
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        with pytest.raises(RuntimeError), tf_setup.collector_paused():
            raise RuntimeError("model file unreadable")
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()


def _unset(monkeypatch, name):
    # Set first, so that monkeypatch restores the variable's absence after the test even when
    # the code under test sets it.
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


@pytest.mark.parametrize("cores, streams, threads", [(1, 1, "1"), (2, 2, "1"), (6, 3, "2"),
                                                     (16, 4, "4")])
def test_one_batch_per_core_up_to_a_few_each_on_its_share_of_the_cores(monkeypatch, cores,
                                                                        streams, threads):
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: cores)
    _unset(monkeypatch, tf_setup.STREAMS_ENV)
    _unset(monkeypatch, tf_setup.INTRA_OP_ENV)
    assert tf_setup.inference_streams(tensorflow_started=False) == streams
    assert os.environ[tf_setup.INTRA_OP_ENV] == threads


def test_a_running_tensorflow_keeps_its_threads_and_reads_one_batch_at_a_time(monkeypatch):
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 8)
    _unset(monkeypatch, tf_setup.STREAMS_ENV)
    _unset(monkeypatch, tf_setup.INTRA_OP_ENV)
    assert tf_setup.inference_streams(tensorflow_started=True) == 1
    assert tf_setup.INTRA_OP_ENV not in os.environ


def test_the_users_thread_setting_stands_and_the_streams_share_the_cores(monkeypatch):
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 8)
    _unset(monkeypatch, tf_setup.STREAMS_ENV)
    monkeypatch.setenv(tf_setup.INTRA_OP_ENV, "8")
    assert tf_setup.inference_streams(tensorflow_started=False) == 1
    monkeypatch.setenv(tf_setup.INTRA_OP_ENV, "2")
    assert tf_setup.inference_streams(tensorflow_started=False) == 4


@pytest.mark.parametrize("setting, started, streams, threads", [
    ("3", False, 3, "2"), ("3", True, 3, None), ("0", False, 1, "6"), ("many", False, 1, "6")])
def test_environment_sets_the_streams(monkeypatch, setting, started, streams, threads):
    monkeypatch.setattr(tf_setup, "usable_cores", lambda: 6)
    monkeypatch.setenv(tf_setup.STREAMS_ENV, setting)
    _unset(monkeypatch, tf_setup.INTRA_OP_ENV)
    assert tf_setup.inference_streams(tensorflow_started=started) == streams
    assert os.environ.get(tf_setup.INTRA_OP_ENV) == threads
