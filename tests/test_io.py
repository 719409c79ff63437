"""save/load: bit-identical round trips on and across backends, optimizer state, atomic
writes, and refusal of every kind of damaged or foreign file."""

import hashlib
import io as io_module
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
from helpers import x64_param

import nnkit
from nnkit import backends, io
from nnkit.io import CorruptFileError
from nnkit.layers import Dense, LeakyReLU, Sigmoid, Softmax
from nnkit.optim import Adam, schedules

AVAILABLE = backends.available()


def _model():
    return nnkit.Sequential(
        [
            Dense(3, 5),
            LeakyReLU(0.1),
            Dense(5, 4, init="he_normal", bias=False),
            Sigmoid(),
            Dense(4, 2),
            Softmax(),
        ]
    )


def _host(backend, params):
    return [backend.to_numpy(v).copy() for p in params for v in p.values()]


def _saved(tmp_path, name="m.safetensors", **kwargs):
    path = tmp_path / name
    model = _model()
    io.save(path, model, model.init(seed=1), **kwargs)
    return path


@pytest.mark.parametrize("dtype", [x64_param("float32"), x64_param("float64")])
def test_round_trip_is_bit_identical(tmp_path, backend, dtype):
    model = _model()
    params = model.init(seed=3, backend=backend, dtype=dtype)
    nnkit.save(tmp_path / "m.st", model, params)
    model2, params2 = nnkit.load(tmp_path / "m.st", backend=backend)
    assert [type(x) for x in model2.layers] == [type(x) for x in model.layers]
    assert [sorted(p) for p in params2] == [["W", "b"], [], ["W"], [], ["W", "b"], []]
    assert [x.config() for x in model2.layers] == [x.config() for x in model.layers]
    assert backends.name_of(params2[0]["W"]) == backend.name
    for a, b in zip(_host(backend, params), _host(backend, params2), strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("source", AVAILABLE)
@pytest.mark.parametrize("target", AVAILABLE)
def test_a_file_from_one_backend_loads_bit_identical_on_another(tmp_path, source, target):
    src, dst = backends.get(source), backends.get(target)
    model = _model()
    params = model.init(seed=4, backend=src)
    nnkit.save(tmp_path / "m.st", model, params)
    _, loaded = nnkit.load(tmp_path / "m.st", backend=target)
    assert backends.name_of(loaded[0]["W"]) == target
    for a, b in zip(_host(src, params), _host(dst, loaded), strict=True):
        assert a.tobytes() == b.tobytes()


def test_file_is_plain_safetensors_with_nnkit_metadata(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = _saved(tmp_path)
    arrays = load_file(path)
    assert sorted(arrays) == ["params/0/W", "params/0/b", "params/2/W", "params/4/W", "params/4/b"]
    with safe_open(path, "np") as f:
        meta = json.loads(f.metadata()["nnkit"])
    assert meta["nnkit_version"] == nnkit.__version__
    assert meta["dtype"] == "float32"
    assert meta["architecture"][2] == {
        "type": "Dense",
        "config": {"in_features": 5, "out_features": 4, "init": "he_normal", "bias": False},
    }
    assert meta["tensors"]["params/0/W"]["shape"] == [3, 5]


def test_optimizer_state_round_trip_resumes_exactly(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 2
    opt = Adam(schedules.exponential(0.01, 0.5, 10))
    whole = nnkit.Trainer(_model(), nnkit.losses.MSE(), opt)
    whole.fit(X, y, steps=20, batch_size=10)
    first = nnkit.Trainer(_model(), nnkit.losses.MSE(), opt)
    first.fit(X, y, steps=12, batch_size=10)
    nnkit.save(
        tmp_path / "c.st", first.model, first.params, optimizer=opt, opt_state=first.opt_state
    )
    ckpt = io.load_checkpoint(tmp_path / "c.st")
    assert ckpt.optimizer.lr == opt.lr and type(ckpt.optimizer) is Adam
    assert ckpt.opt_state.count == 12
    again = nnkit.Trainer(ckpt.model, nnkit.losses.MSE(), ckpt.optimizer)
    again.restore(first.state.replace(params=ckpt.params, opt_state=ckpt.opt_state))
    again.fit(X, y, steps=8, batch_size=10)
    for a, b in zip(
        _host(again.backend, again.params), _host(whole.backend, whole.params), strict=True
    ):
        assert a.tobytes() == b.tobytes()


def test_scalar_state_keeps_its_shape(tmp_path, backend):
    model = _model()
    state = {
        "scale": backend.asarray(np.asarray(2.5), dtype="float32"),
        "count": 3,
        "steps": backend.asarray(np.asarray(7)),
    }
    opt = nnkit.optim.SGD(0.1)
    nnkit.save(tmp_path / "s.st", model, model.init(), optimizer=opt, opt_state=state)
    loaded = io.load_checkpoint(tmp_path / "s.st", backend=backend).opt_state
    assert loaded["scale"].shape == () and float(backend.to_numpy(loaded["scale"])) == 2.5
    assert loaded["count"] == 3 and loaded["steps"] == 7  # integer scalars come back as ints


def test_save_refuses_what_it_cannot_restore(tmp_path):
    model = _model()
    params = model.init()
    with pytest.raises(nnkit.InvalidTypeError, match="schedule"):
        nnkit.save(tmp_path / "x", model, params, optimizer=Adam(lambda t: 0.1))
    with pytest.raises(nnkit.InvalidValueError, match="optimizer="):
        nnkit.save(tmp_path / "x", model, params, opt_state=Adam().init(params))
    with pytest.raises(nnkit.InvalidValueError, match="shapes"):
        nnkit.save(tmp_path / "x", model, params[::-1])
    assert not os.listdir(tmp_path)


# -- atomic writes ---------------------------------------------------------------------------


def _fail(*args):
    raise OSError("crash")


def _crash_mid_write(write):
    def half_then_crash(fd, data):
        write(fd, data[: len(data) // 2])
        raise OSError("crash")

    return half_then_crash


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_crash_during_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, where):
    path = _saved(tmp_path)
    before = path.read_bytes()
    crash = {"write": _crash_mid_write(os.write), "fsync": _fail, "replace": _fail}
    monkeypatch.setattr(os, where, crash[where])
    model = _model()
    with pytest.raises(OSError, match="crash"):
        nnkit.save(path, model, model.init(seed=9))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]
    nnkit.load(path)


def test_short_writes_are_continued(tmp_path, monkeypatch):
    write, calls = os.write, []

    def short_write(fd, data):
        calls.append(len(data))
        return write(fd, data[:1000])

    monkeypatch.setattr(os, "write", short_write)
    path = _saved(tmp_path)
    monkeypatch.undo()
    assert len(calls) > 1 and calls[0] == path.stat().st_size
    _, params = nnkit.load(path)
    default = backends.get()
    for a, b in zip(_host(default, params), _host(default, _model().init(seed=1)), strict=True):
        assert a.tobytes() == b.tobytes()


def test_save_replaces_an_existing_file(tmp_path):
    path = _saved(tmp_path)
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    model = _model()
    nnkit.save(path, model, model.init(seed=9))
    _, params = nnkit.load(path)
    np.testing.assert_array_equal(params[0]["W"], model.init(seed=9)[0]["W"])
    assert os.listdir(tmp_path) == [path.name]


# -- tampered and foreign files --------------------------------------------------------------


def _split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header, body):
    return _join_raw(json.dumps(header).encode(), body)


def _edit_header(edit):
    def tamper(data):
        header, body = _split(data)
        edit(header)
        return _join(header, body)

    return tamper


def _edit_meta(edit):
    def change(header):
        meta = json.loads(header["__metadata__"]["nnkit"])
        edit(meta)
        text = json.dumps(meta)  # a consistent file: its metadata checksum is updated too
        header["__metadata__"].update(
            nnkit=text, nnkit_sha256=hashlib.sha256(text.encode()).hexdigest()
        )

    return _edit_header(change)


def _entry(name, key, value):
    def change(header):
        header[name][key] = value

    return change


def _shift(header):  # move the last tensor 4 bytes on, past the end of the data
    name = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin + 4, end + 4]


def _overlap(header):  # the second tensor starts inside the first
    names = sorted(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"]
    )
    begin, end = header[names[1]]["data_offsets"]
    header[names[1]]["data_offsets"] = [begin - 4, end - 4]


def _flip(data):
    return data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:]


def _duplicate_key(data):
    header, body = _split(data)
    text = json.dumps(header)
    text = text[:-1] + ', "__metadata__": {"nnkit": "{}"}}'
    return _join_raw(text.encode(), body)


def _join_raw(text, body):
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def _not_utf8(data):
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8 : 8 + n].replace(b'"dtype"', b'"dt\xffpe"', 1)
    return data[:8] + header + data[8 + n :]


def _not_json(data):
    (n,) = struct.unpack("<Q", data[:8])
    return data[:8] + b"{" + b"x" * (n - 1) + data[8 + n :]


def _zip_with_pickle():
    buffer = io_module.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"W": [0.0, 1.0]}))
    return buffer.getvalue()


TAMPER = {
    "empty": (lambda d: b"", "too short"),
    "seven bytes": (lambda d: d[:7], "too short"),
    "truncated data": (lambda d: d[:-5], "ends at byte"),
    "truncated header": (lambda d: d[:40], "header length"),
    "trailing junk": (lambda d: d + b"junk", "ends at byte"),
    "header longer than file": (lambda d: struct.pack("<Q", len(d)) + d[8:], "header length"),
    "header not JSON": (_not_json, "not UTF-8 JSON"),
    "header not UTF-8": (_not_utf8, "not UTF-8 JSON"),
    "duplicate header key": (_duplicate_key, "duplicate"),
    "overlapping offsets": (_edit_header(_overlap), "overlapping or gapped"),
    "out-of-range offsets": (_edit_header(_shift), "overlapping or gapped"),
    "offsets not matching shape": (
        _edit_header(_entry("params/0/b", "data_offsets", [0, 4])),
        "do not hold",
    ),
    "dtype differs from metadata": (
        _edit_header(_entry("params/0/W", "dtype", "I32")),
        "in the header but",
    ),
    "shape differs from metadata": (
        _edit_header(_entry("params/0/W", "shape", [5, 3])),
        "in the header but",
    ),
    "unknown dtype": (_edit_header(_entry("params/0/W", "dtype", "O")), "has dtype"),
    "architecture differs from tensors": (
        _edit_meta(lambda m: m["architecture"][0]["config"].update(in_features=4)),
        "missing",
    ),
    "architecture asks for a huge layer": (
        _edit_meta(lambda m: m["architecture"][0]["config"].update(in_features=10**9)),
        "needs more values",
    ),
    "unknown layer type": (
        _edit_meta(lambda m: m["architecture"][1].update(type="os.system")),
        "unknown layer",
    ),
    "flipped data byte": (_flip, "tensor .* SHA-256"),
    "altered metadata": (
        _edit_header(
            lambda h: h["__metadata__"].update(
                nnkit=h["__metadata__"]["nnkit"].replace(
                    '"nnkit_version": "', '"nnkit_version": "9'
                )
            )
        ),
        "metadata fails its SHA-256",
    ),
    "metadata checksum removed": (
        _edit_header(lambda h: h["__metadata__"].pop("nnkit_sha256")),
        "metadata fails",
    ),
    "no nnkit metadata": (_edit_header(lambda h: h.pop("__metadata__")), "no nnkit metadata"),
    "pickle": (lambda d: pickle.dumps({"W": np.zeros(3)}), "header length"),
    "zip archive with a pickle (torch.save)": (lambda d: _zip_with_pickle(), "header length"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_damaged_files_are_refused_with_a_specific_error(tmp_path, case, monkeypatch):
    path = _saved(tmp_path, optimizer=Adam(0.1), opt_state=Adam(0.1).init(_model().init()))
    tamper, message = TAMPER[case]
    bad = tamper(path.read_bytes())
    path.write_bytes(bad)

    def no_pickle(*args, **kwargs):
        raise AssertionError("load must never unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    with pytest.raises(CorruptFileError, match=message):
        nnkit.load(path)


def test_a_numpy_pickle_file_is_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"W": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFileError, match="header length"):
        nnkit.load(path)


def test_a_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"W": np.zeros((2, 2), np.float32)}, tmp_path / "f.st")
    with pytest.raises(nnkit.InvalidValueError, match="no nnkit metadata") as refused:
        nnkit.load(tmp_path / "f.st")
    assert refused.type is nnkit.CorruptFileError is CorruptFileError


def test_load_trainer_needs_trainer_state(tmp_path):
    with pytest.raises(CorruptFileError, match="trainer state"):
        nnkit.Trainer.load(_saved(tmp_path))


def test_a_saved_trainer_keeps_its_l2_penalty(tmp_path):
    trainer = nnkit.Trainer(nnkit.Sequential([Dense(3, 2)]), nnkit.losses.MSE(), Adam(0.1),
                            l2=0.25)  # fmt: skip
    trainer.save(tmp_path / "t.safetensors")
    assert nnkit.Trainer.load(tmp_path / "t.safetensors").l2 == 0.25
