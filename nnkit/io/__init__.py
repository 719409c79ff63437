"""Save and load models (and optionally optimizer and trainer state) as one safetensors file.

The file is a standard safetensors file: tensors named ``params/<layer>/<key>`` (and
``opt/...`` for optimizer state), plus one metadata entry ``"nnkit"`` holding JSON with the
format tag, the nnkit version, the architecture (layer types and configs), the dtype, the
optimizer config and state layout, the caller's ``extra`` JSON (a saved Trainer's state), and
the dtype, shape and SHA-256 of every tensor; a second entry ``"nnkit_sha256"`` is the
SHA-256 of that JSON text.

Loading parses and checks the header itself (length, UTF-8 JSON, offsets that tile the data
exactly, dtypes and shapes that agree with the metadata, checksums) before handing verified
bytes to ``safetensors.numpy.load``; nothing is unpickled or executed. Any disagreement raises
CorruptFileError and nothing is returned. Writes go to a temporary file in the target's
folder, are fsynced, and replace the target with ``os.replace``: a crash leaves the old file.

Modules: ``atomic`` (atomic_write), ``safetensors_file`` (bytes and their strict checks),
``encoding`` (model, optimizer and state to JSON plus tensors, and back), ``files`` (save,
load, load_checkpoint).
"""

from .atomic import atomic_write
from .files import Checkpoint, load, load_checkpoint, save
from .safetensors_file import CorruptFileError, read_verified, require_safetensors

__all__ = [
    "Checkpoint",
    "CorruptFileError",
    "atomic_write",
    "load",
    "load_checkpoint",
    "read_verified",
    "require_safetensors",
    "save",
]
