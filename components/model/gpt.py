"""The GPT: one decoder-only transformer for GPT-1 and GPT-2, in the spirit of nanoGPT's model.py.

Learned position embeddings, GELU, input and output embeddings tied, causal self-attention through
`scaled_dot_product_attention` (flash or memory-efficient kernels where the hardware has them).
GPT-1 (Radford et al. 2018) normalises after each residual add and has no final LayerNorm; GPT-2
(Radford et al. 2019) normalises before each sublayer, adds a final LayerNorm and scales the
initialisation of residual projections by 1/sqrt(2 n_layer). Parameter names follow GPT-2's
checkpoints (`transformer.wte`, `h.N.attn.c_attn`, `mlp.c_fc`, `ln_f`, `lm_head`), so converting from
or to `transformers` is a transpose of the Conv1D weights (`components.model.hf`).

Options beyond the two papers, all off by default:
- `local_window` (GPT-3, Brown et al. 2020, section 2.1): odd layers attend only to the previous
  `local_window` positions, alternating with dense layers.
- `embedding_dim` (ALBERT, Lan et al. 2019): factorised embeddings, vocab x E then E -> n_embd.
- `share_layers` (ALBERT): one block's parameters used at every layer.

Generation keeps each layer's keys and values (`KVCache`): the prompt is run once, then one token at a
time, with the output layer applied to the last position only. A sequence longer than the context is
continued from its last `block_size` tokens, recomputed at each step as the learned positions shift.
Each token is drawn after temperature, top-k and nucleus (top-p) filtering (`next_tokens`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50_257
    block_size: int = 1024  # context length
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.1  # embeddings, attention weights and residual branches, as both papers
    bias: bool = True
    pre_ln: bool = True  # GPT-2; False: GPT-1's post-LN without a final LayerNorm
    gelu: Literal["tanh", "exact"] = "tanh"  # the papers' code used the tanh approximation
    layer_norm_eps: float = 1e-5
    local_window: int | None = None
    embedding_dim: int | None = None
    share_layers: bool = False

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not a multiple of n_head={self.n_head}")
        if self.local_window is not None and self.local_window < 1:
            raise ValueError(f"local_window={self.local_window} must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


class KVCache:
    """Every layer's keys and values for the positions run so far, allocated on first use to the whole
    context (in the dtype attention computes in, bf16 under autocast)."""

    def __init__(self, n_layer: int, block_size: int):
        self.block_size, self.length = block_size, 0
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's keys and values of the new positions; all its keys and values so far."""
        if self.keys[layer] is None:
            B, H, _, D = k.shape
            self.keys[layer] = k.new_empty(B, H, self.block_size, D)
            self.values[layer] = v.new_empty(B, H, self.block_size, D)
        end = self.length + k.size(2)
        self.keys[layer][:, :, self.length:end] = k
        self.values[layer][:, :, self.length:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, local: bool):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.window = config.local_window if local else None
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                pad: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.extend(layer, k, v)
        if self.window is None and start == 0 and pad is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # queries at start.. see keys up to their own position (banded: the last `window` only)
            query = torch.arange(start, start + T, device=x.device)[:, None]
            key = torch.arange(k.size(2), device=x.device)[None, :]
            mask = (query - key >= 0) & (query - key < (self.window or k.size(2)))
            if pad is not None:  # no query sees a row's left padding; a padding query sees itself
                mask = mask & ((key >= pad[:, None, None]) | (key == query))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh" if config.gelu == "tanh" else "none")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, local: bool = False):
        super().__init__()
        self.pre_ln = config.pre_ln
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config, local)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                pad: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre_ln:  # GPT-2
            x = x + self.attn(self.ln_1(x), cache, layer, pad)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, cache, layer, pad))  # GPT-1
        return self.ln_2(x + self.mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.local_window is not None and config.share_layers:
            raise ValueError("local_window alternates layers, which share_layers makes one: choose one")
        self.config = config
        width = config.embedding_dim or config.n_embd
        blocks = 1 if config.share_layers else config.n_layer
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, width),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config, local=config.local_window is not None and i % 2 == 1)
                            for i in range(blocks)),
        ))
        if config.embedding_dim:
            self.transformer["wte_proj"] = nn.Linear(width, config.n_embd, bias=False)
        if config.pre_ln:
            self.transformer["ln_f"] = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps,
                                                    bias=config.bias)
        self.lm_head = nn.Linear(width, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied (both papers)
        # Recompute each block's activations in the backward pass instead of keeping them: memory
        # for compute, set by the trainer (not part of the shape, so not in the config).
        self.activation_checkpointing = False
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: residual projections scaled by depth
                torch.nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)  # both papers: N(0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameters (tied ones once); without the position embeddings, as nanoGPT and GPT-2 count."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def hidden_states(self, idx: torch.Tensor, cache: KVCache | None = None, pad: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """The last layer's output (after `ln_f` for GPT-2): what the LM and task heads read. With a
        cache, `idx` continues the positions it holds, and their keys and values join it. `pad` (B,)
        counts each row's left padding: no position attends to it, and each row's first real token
        takes position 0, so a padded row computes what it would alone."""
        start = cache.length if cache is not None else 0
        T = idx.size(1)
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens is longer than the context "
                             f"({self.config.block_size})")
        tokens = self.transformer.wte(idx)
        if self.config.embedding_dim:
            tokens = self.transformer.wte_proj(tokens)
        at = torch.arange(start, start + T, device=idx.device)
        positions = self.transformer.wpe(at if pad is None else (at[None, :] - pad[:, None]).clamp(min=0))
        x = self.transformer.drop(tokens + positions)
        for i in range(self.config.n_layer):
            block = self.transformer.h[0 if self.config.share_layers else i]
            if self.activation_checkpointing and self.training:  # dropout replays its masks (saved RNG)
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x, cache, i, pad)
        if cache is not None:
            cache.length += T
        return self.transformer.ln_f(x) if self.config.pre_ln else x

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.embedding_dim:  # back through the factorisation, tied too
            hidden = hidden @ self.transformer.wte_proj.weight
        return self.lm_head(hidden)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None,
                pad: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position, and the mean cross-entropy against `targets` when given. With a
        cache (generation), the logits of the last position only, (B, 1, vocab). `pad`: as in
        `hidden_states`."""
        hidden = self.hidden_states(idx, cache, pad)
        if cache is not None:
            return self.logits(hidden[:, -1:]), None
        logits = self.logits(hidden)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6N plus attention's 12 L T C (PaLM appendix B, as nanoGPT)."""
        c = self.config
        return 6 * self.num_parameters() + 12 * c.n_layer * c.n_embd * c.block_size

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None, stop: int | None = None,
                 cache: bool = True, pad: torch.Tensor | None = None, top_p: float | None = None
                 ) -> torch.Tensor:
        """Sample `max_new_tokens` after `idx` (B, T) as `next_tokens` draws them (temperature 0 is
        greedy; `top_k`, `top_p` narrow what is drawn from). Prompts of different
        lengths come left-padded, `pad` (B,) counting each row's padding (`left_pad` makes both). With
        `stop`, end once every row has produced that token (rows that end first repeat it).
        `cache=False` recomputes the whole context at every step: the same tokens, slower (kept to
        check the cache against)."""
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p={top_p} is not a probability mass in (0, 1]")
        block = self.config.block_size
        kv: KVCache | None = None
        kv_pad: torch.Tensor | None = None  # the padding in the cache's window
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            window = None if pad is None else (pad - max(0, idx.size(1) - block)).clamp(min=0)
            if not cache:
                logits = self(idx[:, -block:], pad=window)[0]
            elif kv is None or kv.length >= block:  # first step, or the context is full: run it anew
                kv, kv_pad = KVCache(self.config.n_layer, block), window
                logits = self(idx[:, -block:], cache=kv, pad=kv_pad)[0]
            else:
                logits = self(idx[:, -1:], cache=kv, pad=kv_pad)[0]
            logits = logits[:, -1, :].float()  # through forward: a sharded model gathers there
            following = next_tokens(logits, temperature, top_k, top_p, generator)
            if stop is not None:
                following[done] = stop
                done |= following[:, 0] == stop
            idx = torch.cat((idx, following), dim=1)
            if stop is not None and bool(done.all()):
                break
        return idx


def next_tokens(logits: torch.Tensor, temperature: float, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One id (B, 1) for each row of `logits` (B, vocab): the likeliest at temperature 0, else drawn from
    the softmax of `logits / temperature`, narrowed first to the `top_k` likeliest, then to the nucleus
    (Holtzman et al. 2019): the fewest likeliest tokens whose probability reaches `top_p`, the
    likeliest always among them. The nucleus adapts to the distribution where top-k cannot: a few
    tokens where the model is sure, many where it is not, and never the unreliable tail. None (or a
    `top_p` of 1) leaves that step out."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits[logits < kth] = -float("inf")
    if top_p is not None and top_p < 1:  # at 1 everything is kept: rounding in the sums must not drop any
        probabilities, order = F.softmax(logits, dim=-1).sort(dim=-1, descending=True)
        outside = probabilities.cumsum(dim=-1) - probabilities >= top_p  # the likelier ones already reach it
        outside[:, 0] = False
        logits[outside.scatter(-1, order, outside)] = -float("inf")
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device | str = "cpu"
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts of different lengths as one batch for `GPT.generate`: each row padded on the left with
    `pad_id` (its value never matters: padding is masked out), and the padding of each row."""
    width = max(len(p) for p in prompts)
    idx = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], device=device)
    return idx, torch.tensor([width - len(p) for p in prompts], device=device)


def before_stop(tokens: list[int], stop: int) -> list[int]:
    """The generated `tokens` before the first `stop` (all of them if none)."""
    return tokens[:tokens.index(stop)] if stop in tokens else tokens
