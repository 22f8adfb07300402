"""Where a pattern's bytes go: weights, KV cache and compute buffers on the GPU and in host memory.

The rules are llama.cpp's (every backend here runs it underneath):
- `-ngl k` counts the L blocks plus the output layer; since ggml-org/llama.cpp PR #18148 the output
  layer goes first, then the last k-1 blocks. `token_embd` always stays on the host.
- `--n-cpu-moe N` keeps the expert tensors of blocks 0..N-1 on the host (common/arg.cpp).
- KV: each layer sits with its block; full-attention layers hold n_ctx cells (n_ctx rounded up to
  256), sliding-window layers GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) (src/llama-kv-cache-iswa.cpp).
- Compute: the worst-case graph of one n_ubatch (512) at full context, with flash attention. Its
  terms were fitted to the real llama-server's `sched_reserve: … compute buffer size` lines
  (benchmarks/fit_accuracy.py checks them): per token 4·n_ff + n_embd floats for a dense model (a
  peak of three expert stages for MoE), the f16 attention mask (n_ctx × tokens) and, with sliding
  windows, a second mask. The bundled build reserves one output row; builds that reserve logits for
  the whole ubatch need n_vocab floats more per token (published gpt-oss GPU logs suggest so).
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.runs.fit.model import ModelDesc, pad

N_UBATCH = 512
N_SEQ = 1  # the managed llama-server runs -np 1; LM Studio and Ollama load one sequence by default
F16 = 2
_GRAPH_FIXED = 20 * 1024  # inputs, positions and output ids of the reserved graph (fitted)
# A GPU backend reserves about twice the CPU backend's graph for the same model and -ub: gpt-oss-20b at
# 131072 context, -ub 512, flash attention: CUDA0 456.98 MiB (a user's CUDA log), Apple MTL0 420.08 MiB
# (an M5 Metal log), against 225 MiB from the CPU-fitted terms. Two logs only: the device figure is
# the CPU one times this, within 8 % of both (benchmarks/fit_accuracy.py lists them).
GPU_COMPUTE_FACTOR = 1.95


@dataclass(frozen=True)
class Placement:
    """llama.cpp's `-ngl` count (blocks + output layer) and `--n-cpu-moe` blocks."""

    ngl: int
    n_cpu_moe: int

    def block_on_gpu(self, i: int, n_layer: int) -> bool:
        return self.ngl >= 2 and i >= n_layer - (self.ngl - 1)

    @property
    def output_on_gpu(self) -> bool:
        return self.ngl >= 1


def ngl_count(gpu_layers: int | str | None, n_layer: int) -> int:
    """Pattern layers (LM Studio's count: n_layer = all) → llama.cpp's -ngl (which adds the output layer)."""
    if gpu_layers is None or gpu_layers == "max":
        return n_layer + 1
    if gpu_layers == "off":
        return 0
    n = int(gpu_layers)
    return n_layer + 1 if n >= n_layer else max(n, 0)


def cpu_moe_count(n_cpu_moe: int | str | None, n_layer: int) -> int:
    if n_cpu_moe == "all":
        return n_layer
    return min(int(n_cpu_moe or 0), n_layer)


@dataclass(frozen=True)
class Breakdown:
    model_gpu: int
    model_host: int
    kv_gpu: int
    kv_host: int
    compute_gpu: int
    compute_host: int

    @property
    def gpu(self) -> int:
        return self.model_gpu + self.kv_gpu + self.compute_gpu

    @property
    def host(self) -> int:
        return self.model_host + self.kv_host + self.compute_host


def kv_cells(desc: ModelDesc, n_ctx: int, layer: int) -> int:
    ctx = pad(max(n_ctx, 1), 256)
    if desc.is_swa(layer):
        return pad(min(ctx, desc.n_swa * N_SEQ + N_UBATCH), 256)
    return ctx


def kv_layer_bytes(desc: ModelDesc, n_ctx: int, layer: int) -> int:
    per_cell = desc.n_head_kv * (desc.head_dim_k + desc.head_dim_v) * F16
    return per_cell * kv_cells(desc, n_ctx, layer)


def kv_bytes(desc: ModelDesc, n_ctx: int) -> int:
    return sum(kv_layer_bytes(desc, n_ctx, i) for i in range(desc.n_layer))


def compute_bytes(desc: ModelDesc, n_ctx: int) -> int:
    """The compute buffer of the device that runs the layers, at -ub 512 with flash attention."""
    tokens = min(N_UBATCH, max(n_ctx, 1))
    ctx = pad(max(n_ctx, 1), 256)
    mask = ctx * tokens * F16
    if desc.n_swa and any(desc.swa_layers):
        mask += kv_cells(desc, n_ctx, desc.swa_layers.index(True)) * tokens * F16
    if desc.is_moe:
        # The peak of three stages of the routed-expert graph, fitted to the real server's buffers on
        # generated gpt-oss-shaped models (benchmarks/fit_accuracy.py; 14 of 15 shapes exact).
        d, f, k, q = desc.n_embd, desc.n_ff, max(desc.n_expert_used, 1), desc.n_head * desc.head_dim_k
        per_token = max(d + 3 * f * k + d * k, 3 * d + q + 2 * f * k + 2 * f, 5 * d + d * k)
    else:
        per_token = 4 * desc.n_ff + desc.n_embd
    logits = desc.n_vocab * 4  # one output row: the server reserves n_outputs = 1
    return tokens * per_token * 4 + mask + logits + _GRAPH_FIXED


def breakdown(desc: ModelDesc, n_ctx: int, place: Placement, has_gpu: bool) -> Breakdown:
    """Bytes of each kind on each side for one placement; no GPU puts everything on the host."""
    L = desc.n_layer
    model_gpu = kv_gpu = 0
    on_gpu_any = False
    for i in range(L):
        kv = kv_layer_bytes(desc, n_ctx, i)
        if has_gpu and place.block_on_gpu(i, L):
            on_gpu_any = True
            host_experts = desc.expert_bytes[i] if i < place.n_cpu_moe else 0
            model_gpu += desc.block_bytes[i] - host_experts
            kv_gpu += kv
    if has_gpu and place.output_on_gpu:
        model_gpu += desc.output_bytes
        on_gpu_any = True
    model_host = desc.weights_bytes - model_gpu
    kv_host = kv_bytes(desc, n_ctx) - kv_gpu
    compute = compute_bytes(desc, n_ctx)
    if not on_gpu_any:
        return Breakdown(model_gpu, model_host, kv_gpu, kv_host, 0, compute)
    all_gpu = place.ngl >= L + 1 and place.n_cpu_moe == 0
    # The host side keeps the input rows; when it also runs layers it reserves its own graph (an upper
    # bound: llama.cpp sizes it by the host's share of the graph).
    host_compute = N_UBATCH * desc.n_embd * 4 if all_gpu else compute
    return Breakdown(model_gpu, model_host, kv_gpu, kv_host, round(compute * GPU_COMPUTE_FACTOR), host_compute)
