"""A CPU double of the ``tensorrt`` Python API's name-based runtime, for the bare clock scripts' tests.

A "plan" is JSON::

    {"inputs": {"x": {"dtype": "FLOAT", "shape": [-1, 3], "profile": [[1, 3], [4, 3], [16, 3]]}},
     "outputs": {"y": {"dtype": "FLOAT", "shape": [-1, 5]}},
     "kernel_ms": 0.5, "profile_sharing": false, "capturable": true}

An output's -1 takes the first input's first dim. Like TensorRT 8.6, with dynamic shapes profile 0 belongs
to one context at a time (implicitly to the first one created) unless "profile_sharing" is set; a context
refuses to run until its profile is set, its dynamic inputs have shapes and every tensor has an address of
a large enough device buffer; and a capture before the context's first run is invalidated.
"""

import enum
import json

import numpy as np

__version__ = "8.6.0.fake"


def _rt():
    """The CUDA runtime double (imported on use, so this module loads without it for introspection)."""
    from cuda.bindings import runtime
    return runtime


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    INT64 = 7
    BF16 = 9


_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "BOOL": np.bool_,
       "UINT8": np.uint8, "INT64": np.int64}


def nptype(trt_type):
    if trt_type.name not in _NP:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
    return _NP[trt_type.name]


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, min_severity=WARNING):
        self.min_severity = min_severity


class Runtime:
    def __init__(self, logger):
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine):
        try:
            return ICudaEngine(json.loads(bytes(serialized_engine)))
        except ValueError:
            return None


class ICudaEngine:
    def __init__(self, spec):
        self.spec = spec
        self.io = {**{n: dict(t, mode="INPUT") for n, t in spec["inputs"].items()},
                   **{n: dict(t, mode="OUTPUT") for n, t in spec["outputs"].items()}}
        self.names = list(self.io)
        self.dynamic = any(-1 in t["shape"] for t in spec["inputs"].values())
        self.profile_owners = set()

    @property
    def num_io_tensors(self):
        return len(self.names)

    def get_tensor_name(self, index):
        return self.names[index]

    def get_tensor_mode(self, name):
        return TensorIOMode[self.io[name]["mode"]]

    def get_tensor_dtype(self, name):
        return DataType[self.io[name]["dtype"]]

    def get_tensor_shape(self, name):
        return list(self.io[name]["shape"])

    def get_tensor_profile_shape(self, name, profile_index):
        if profile_index != 0 or "profile" not in self.io[name]:
            raise RuntimeError(f"no profile {profile_index} for {name}")
        return [list(s) for s in self.io[name]["profile"]]

    def is_shape_inference_io(self, name):
        return False

    def get_tensor_vectorized_dim(self, name):
        return self.io[name].get("vectorized", [-1, 1])[0]

    def get_tensor_components_per_element(self, name):
        return self.io[name].get("vectorized", [-1, 1])[1]

    def create_execution_context(self):
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine):
        self.engine = engine
        self.profile = -1
        if not engine.dynamic or not engine.profile_owners:  # TensorRT 8.6 assigns profile 0 implicitly
            self._take_profile()
        self.shapes, self.addresses, self.runs = {}, {}, 0

    def _take_profile(self):
        others = self.engine.profile_owners - {id(self)}
        if self.engine.dynamic and not self.engine.spec.get("profile_sharing") and others:
            return False
        self.engine.profile_owners.add(id(self))
        self.profile = 0
        return True

    def __del__(self):
        self.engine.profile_owners.discard(id(self))

    def set_optimization_profile_async(self, profile_index, stream_handle):
        return profile_index == 0 and _rt()._get("stream", stream_handle) is not None and self._take_profile()

    def set_input_shape(self, name, shape):
        t = self.engine.io[name]
        shape = list(shape)
        if t["mode"] != "INPUT" or len(shape) != len(t["shape"]):
            return False
        lo, hi = (t["profile"][0], t["profile"][2]) if "profile" in t else (t["shape"], t["shape"])
        if not all(a <= d <= b for a, d, b in zip(lo, shape, hi)):
            return False
        self.shapes[name] = shape
        return True

    def infer_shapes(self):
        return [n for n, t in self.engine.spec["inputs"].items() if -1 in t["shape"] and n not in self.shapes]

    def get_tensor_shape(self, name):
        t = self.engine.io[name]
        if t["mode"] == "INPUT":
            return list(self.shapes.get(name, t["shape"]))
        first = self.get_tensor_shape(self.engine.names[0])
        return [first[0] if d == -1 else d for d in t["shape"]]

    def set_tensor_address(self, name, memory):
        if name not in self.engine.io or _rt()._region("device", int(memory), 1) is None:
            return False
        self.addresses[name] = int(memory)
        return True

    def _nbytes(self, name):
        dims = self.get_tensor_shape(name)
        vdim, comps = self.engine.get_tensor_vectorized_dim(name), self.engine.get_tensor_components_per_element(name)
        if vdim >= 0:
            dims[vdim] = -(-dims[vdim] // comps) * comps
        dt = self.engine.io[name]["dtype"]
        return int(np.prod(dims)) * (2 if dt == "BF16" else np.dtype(_NP[dt]).itemsize)

    def execute_async_v3(self, stream_handle):
        ready = (self.profile == 0 and not self.infer_shapes()
                 and all(n in self.addresses and _rt()._region("device", self.addresses[n], self._nbytes(n))
                         is not None for n in self.engine.names))
        stream = _rt()._get("stream", stream_handle)
        capturing = stream is not None and stream.capture is not None
        if capturing and (not self.runs or not self.engine.spec.get("capturable", True)):
            _rt()._invalidate_capture(stream_handle)
            return False
        if not ready or not _rt()._enqueue(stream_handle, self.engine.spec.get("kernel_ms", 0.5)):
            return False
        self.runs += 1
        return True
