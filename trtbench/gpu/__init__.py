"""GPU measurement shared by every GPU backend: CUDA streams, events and buffers (cuda-python), the
CUDA-event stage timer, the NVML sampler and the GPU fingerprint. Nothing here is imported unless a GPU
variant runs; without a GPU each piece reports itself unavailable with the reason."""
