"""nnkit.dataspec: the DataSpec a model keeps of its data (task, class names in output order,
standardisation), made from a file by ``describe`` and saved as JSON."""

import numpy as np
import pytest
from helpers import write

from nnkit import datafiles, dataspec
from nnkit.datafiles import DataFileError
from nnkit.dataspec import DataSpec


def test_describe_infers_the_task_and_sorted_classes(tmp_path):
    names = datafiles.read(write(tmp_path / "s.csv", "x,y\n1,dog\n2,cat\n3,dog\n"))
    spec = dataspec.describe(names)
    assert spec.task == "classification" and spec.classes == ["cat", "dog"]
    ints = datafiles.read(write(tmp_path / "i.csv", "x,y\n1,10\n2,2\n3,10\n"))
    assert dataspec.describe(ints).classes == ["2", "10"]  # numeric order
    assert dataspec.describe(ints).class_type == "int"
    floats = datafiles.read(write(tmp_path / "f.csv", "x,y\n1,1.5\n2,2\n"))
    assert dataspec.describe(floats).task == "regression"
    assert dataspec.describe(ints, "regression").task == "regression"
    forced = dataspec.describe(floats, "classification")
    assert forced.classes == ["1.5", "2.0"] and forced.class_type == "float"
    with pytest.raises(DataFileError, match=r"s\.csv: only one class \('dog'\)"):
        dataspec.describe(datafiles.read(write(tmp_path / "s.csv", "x,y\n1,dog\n2,dog\n")))


def test_spec_encodes_decodes_and_survives_json(tmp_path):
    t = datafiles.read(write(tmp_path / "t.csv", "x,y\n1,dog\n2,cat\n3,emu\n"))
    spec = dataspec.describe(t)
    again = DataSpec.from_json(spec.to_json(), "m.st")
    assert again == spec
    np.testing.assert_array_equal(again.encode(t, 3), [1, 0, 2])
    scores = np.array([[0.1, 0.7, 0.2], [0.9, 0.0, 0.1]])
    assert again.decode(scores).tolist() == ["dog", "cat"]
    # one output scores the second class
    two = dataspec.describe(datafiles.read(write(tmp_path / "b.csv", "x,y\n1,0\n2,1\n")))
    assert two.encode(datafiles.read(tmp_path / "b.csv"), 1).tolist() == [[0.0], [1.0]]
    assert two.decode(np.array([[0.2], [0.8]])).tolist() == [0, 1]
    # a class the model never saw: named with its line
    other = datafiles.read(write(tmp_path / "o.csv", "x,y\n1,dog\n2,yak\n"))
    with pytest.raises(DataFileError, match=r"o\.csv, line 3 \(column y\): class 'yak'"):
        spec.encode(other, 3)
    with pytest.raises(DataFileError, match="m.st: damaged data description"):
        DataSpec.from_json({"task": "poetry", "features": []}, "m.st")


def test_standardized_uses_the_given_rows_and_survives_json():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    spec = DataSpec("regression", ["a", "b"]).standardized(X)
    Z = spec.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, 0].std(), 1)
    assert (Z[:, 1] == 0).all()  # a constant column: scale 1, no division by zero
    again = DataSpec.from_json(spec.to_json(), "m")
    np.testing.assert_array_equal(again.transform(X), Z)  # JSON floats round-trip exactly
