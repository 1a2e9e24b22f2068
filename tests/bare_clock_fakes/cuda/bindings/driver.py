"""A CPU double of the one call of cuda-python's ``cuda.bindings.driver`` the clocks use: cuStreamWaitValue32
(see runtime.py beside it for how a held stream behaves). FAKE_CUDA_NO_STREAM_MEM_OPS makes it refuse, as a
driver without stream memory operations does."""

import enum
import os

from cuda.bindings import runtime as _rt


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_NOT_SUPPORTED = 801


class CUstreamWaitValue_flags(enum.IntEnum):
    CU_STREAM_WAIT_VALUE_GEQ = 0


def cuStreamWaitValue32(stream, addr, value, flags):
    if os.environ.get("FAKE_CUDA_NO_STREAM_MEM_OPS"):  # a driver that refuses stream memory operations
        return (CUresult.CUDA_ERROR_NOT_SUPPORTED,)
    if flags != CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_GEQ or _rt._region("host", int(addr), 4) is None:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    return (CUresult.CUDA_SUCCESS,) if _rt._hold(stream, addr, value) else (CUresult.CUDA_ERROR_INVALID_VALUE,)
