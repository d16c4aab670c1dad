"""The BLIP-2 Querying Transformer (Q-Former) as a video-to-LLM connector, with its stage-1 text path.

Li et al., "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language Models",
ICML 2023. A BERT-style post-norm transformer: learnable query tokens self-attend (sharing the self-attention layers
with an optional text path), cross-attend to the frozen encoder's visual tokens every ``cross_attention_frequency``
layers, and pass through their own feed-forward block; text tokens use a separate feed-forward block, as in BLIP-2.
The query outputs are projected to the LLM's width and become its soft prefix. BLIP-2's BERT initialisation is in
``qformer_bert_weights.py``.

Our own implementation (fused QKV / KV projections and ``scaled_dot_product_attention``) rather than transformers'
``Blip2QFormerModel``; ``benchmarks/connector_step.py`` compares the two.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aegis.errors import CheckpointError, ConfigError
from aegis.annotations import ExistingPath

from .common import TemporalEmbedding, check_sizes, maybe_checkpoint

__all__ = ["QFormer", "multimodal_causal_mask"]


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, dim = x.shape
    return x.view(batch, length, heads, dim // heads).transpose(1, 2)  # (B, h, S, D/h)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)  # (B, S, D)


class _SelfAttention(nn.Module):
    """Post-norm multi-head self-attention with a residual (BERT's attention block)."""

    def __init__(self, dim: int, heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)  # (3,B,h,S,d)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.norm(x + self.drop(self.proj(_merge_heads(out))))


class _CrossAttention(nn.Module):
    """Post-norm cross-attention from queries (B, Q, D) to visual tokens (B, N, Dv) with a residual."""

    def __init__(self, dim: int, visual_dim: int, heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(visual_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, visual: torch.Tensor, time_embed: torch.Tensor | None) -> torch.Tensor:
        # With few queries (heads * Q < D) it is cheaper to fold the key/value projections into the queries and the
        # output than to project all N visual tokens; both orders compute the same attention.
        if self.heads * x.shape[1] < x.shape[-1]:
            out = self._attend_absorbed(x, visual, time_embed)
        else:
            out = self._attend_projected(x, visual, time_embed)
        return self.norm(x + self.drop(self.proj(out)))

    def _attend_projected(self, x, visual, time_embed) -> torch.Tensor:
        """Standard attention: project the visual tokens to keys and values (B, N, 2D)."""
        batch, num_visual, _ = visual.shape
        dim = x.shape[-1]
        q = _split_heads(self.q(x), self.heads)  # (B, h, Q, d)
        kv = self.kv(visual)  # (B, N, 2D)
        if time_embed is not None:  # kv(x + e_t) = kv(x) + W e_t: the frozen tokens need no input gradient
            steps = time_embed.shape[0]
            per_step = F.linear(time_embed, self.kv.weight)  # (T', 2D)
            kv = kv.view(batch, steps, num_visual // steps, 2 * dim) + per_step[None, :, None]  # (B, T', H'W', 2D)
        kv = kv.reshape(batch, num_visual, 2, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)  # (2,B,h,N,d)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1], dropout_p=self.dropout if self.training else 0.0)
        return _merge_heads(out)  # (B, Q, D)

    def _attend_absorbed(self, x, visual, time_embed) -> torch.Tensor:
        """The same attention with W_k folded into the queries and W_v applied after pooling the tokens.

        scores = (W_k^T q) . v_n (the key bias shifts every score of a row equally, so softmax drops it) and
        out = W_v (sum_n p_n v_n) + b_v; costs 4 h Q N Dv multiply-adds instead of 2 N Dv 2D.
        """
        batch, num_query, dim = x.shape
        num_visual, visual_dim = visual.shape[1], visual.shape[2]
        heads, head_dim = self.heads, dim // self.heads
        w_k = self.kv.weight[:dim].view(heads, head_dim, visual_dim)  # (h, d, Dv)
        w_v = self.kv.weight[dim:].view(heads, head_dim, visual_dim)  # (h, d, Dv)
        q = _split_heads(self.q(x), heads) * head_dim ** -0.5  # (B, h, Q, d)
        q_visual = torch.einsum("bhqd,hdc->bhqc", q, w_k).reshape(batch, heads * num_query, visual_dim)  # (B,hQ,Dv)
        scores = torch.bmm(q_visual, visual.transpose(1, 2))  # (B, hQ, N)
        if time_embed is not None:
            steps = time_embed.shape[0]
            bias = q_visual @ time_embed.t()  # (B, hQ, T')
            scores = (scores.view(batch, -1, steps, num_visual // steps) + bias[..., None]).flatten(2)  # (B, hQ, N)
        probs = F.dropout(scores.softmax(dim=-1), self.dropout, self.training)
        pooled = torch.bmm(probs, visual)  # (B, hQ, Dv)
        if time_embed is not None:
            pooled = pooled + probs.view(batch, probs.shape[1], steps, -1).sum(-1) @ time_embed  # (B, hQ, Dv)
        pooled = pooled.view(batch, heads, num_query, visual_dim)  # (B, h, Q, Dv)
        out = torch.einsum("bhqc,hdc->bhqd", pooled, w_v) + self.kv.bias[dim:].view(1, heads, 1, head_dim)
        return _merge_heads(out)  # (B, Q, D)


class _FeedForward(nn.Module):
    """Post-norm GELU feed-forward block with a residual (BERT's intermediate + output)."""

    def __init__(self, dim: int, hidden: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.fc2(F.gelu(self.fc1(x)))))


class _QFormerLayer(nn.Module):
    """Shared self-attention over [queries; text], cross-attention for the queries, separate query/text FFNs."""

    def __init__(self, dim: int, visual_dim: int, heads: int, intermediate: int, dropout: float, eps: float,
                 cross: bool, text: bool) -> None:
        super().__init__()
        self.self_attn = _SelfAttention(dim, heads, dropout, eps)
        self.cross_attn = _CrossAttention(dim, visual_dim, heads, dropout, eps) if cross else None
        self.ffn_query = _FeedForward(dim, intermediate, dropout, eps)
        self.ffn_text = _FeedForward(dim, intermediate, dropout, eps) if text else None

    def forward(self, x: torch.Tensor, visual: torch.Tensor | None, time_embed: torch.Tensor | None,
                mask: torch.Tensor | None, num_query: int) -> torch.Tensor:
        x = self.self_attn(x, mask)
        if num_query == x.shape[1]:  # queries only: the stage-2 connector path
            if self.cross_attn is not None and visual is not None:
                x = self.cross_attn(x, visual, time_embed)
            return self.ffn_query(x)
        query, text = x[:, :num_query], x[:, num_query:]  # (B, Q, D), (B, L, D)
        if num_query and self.cross_attn is not None and visual is not None:
            query = self.cross_attn(query, visual, time_embed)
        text = self.ffn_text(text)
        if not num_query:
            return text
        return torch.cat([self.ffn_query(query), text], dim=1)  # (B, Q+L, D)


class _LMHead(nn.Module):
    """BERT's prediction head: dense + GELU + LayerNorm, then a decoder tied to the word embeddings."""

    def __init__(self, dim: int, vocab: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(F.gelu(self.dense(x))), word_embeddings, self.bias)  # (B, L, V)


def multimodal_causal_mask(text_mask: torch.Tensor, num_query: int) -> torch.Tensor:
    """BLIP-2's image-grounded generation mask over [queries; text], True where attention is allowed.

    Queries see all queries and no text; text token i sees every query and the non-padding text tokens j <= i.
    Returns (B, 1, Q+L, Q+L).
    """
    batch, length = text_mask.shape
    size = num_query + length
    mask = torch.zeros(batch, size, size, dtype=torch.bool, device=text_mask.device)
    mask[:, :, :num_query] = True
    causal = torch.ones(length, length, dtype=torch.bool, device=text_mask.device).tril()
    mask[:, num_query:, num_query:] = causal[None] & text_mask.bool()[:, None, :]
    mask[:, :num_query, num_query:] = False
    return mask[:, None]  # (B, 1, S, S)


class QFormer(nn.Module):
    """BLIP-2 Q-Former connector: visual tokens (B, N, Dv) -> LLM prefix (B, Q, Dllm).

    ``num_query_tokens`` learned queries pass through ``depth`` post-norm layers (self-attention; cross-attention
    to the LayerNorm-ed visual tokens in layers 0, f, 2f, ... for f = ``cross_attention_frequency``; GELU FFN) and a
    linear projection to ``output_dim``. Weights start as N(0, ``initializer_range``) (BERT's 0.02 suits width 768;
    narrow Q-Formers learn faster with about 1/sqrt(hidden_size)). With ``temporal_pos_embed`` a learned
    per-time-step embedding (needs the token grid (T', H', W') in ``forward``) is added to the visual tokens so the
    queries know when a token was seen. ``text_vocab_size > 0`` adds BLIP-2's text path for stage-1 training (word and position embeddings, a text
    FFN per layer sharing the self-attention, and a tied LM head): see :meth:`encode_text`,
    :meth:`encode_multimodal` and :meth:`caption_logits`. ``bert_checkpoint`` initialises the self-attention, FFNs,
    embeddings and LayerNorms from a local BERT-style folder (transformers ``BertModel`` weights; cross-attention
    starts random, as in BLIP-2); ``checkpoint`` then loads a trained Q-Former (an AEGIS stage-1 or stage-2
    checkpoint file or work dir: the keys under ``connector.`` or ``qformer.``; the output projection is always
    new, as BLIP-2's language projection is). The attribute ``num_output_tokens`` (Q, the connector contract's
    prefix length) equals ``num_query_tokens``.
    """

    def __init__(self, input_dim: int, output_dim: int, num_query_tokens: int = 32, depth: int = 6,
                 hidden_size: int = 768, num_heads: int = 12, intermediate_size: int = 3072,
                 cross_attention_frequency: int = 2, dropout: float = 0.0, layer_norm_eps: float = 1e-12,
                 gradient_checkpointing: bool = False, temporal_pos_embed: bool = False,
                 max_temporal_positions: int = 64, text_vocab_size: int = 0, max_text_length: int = 64,
                 initializer_range: float = 0.02, bert_checkpoint: ExistingPath | None = None,
                 checkpoint: ExistingPath | None = None) -> None:
        super().__init__()
        check_sizes("QFormer", dict(input_dim=input_dim, output_dim=output_dim, num_query_tokens=num_query_tokens,
                                    depth=depth, hidden_size=hidden_size, num_heads=num_heads,
                                    intermediate_size=intermediate_size,
                                    cross_attention_frequency=cross_attention_frequency), hidden_size, num_heads)
        self.input_dim, self.output_dim, self.hidden_size = input_dim, output_dim, hidden_size
        self.num_output_tokens = num_query_tokens
        self.num_heads = num_heads
        self.gradient_checkpointing = gradient_checkpointing
        self.text_vocab_size, self.max_text_length = text_vocab_size, max_text_length
        self.initializer_range = initializer_range
        self.query_tokens = nn.Parameter(torch.randn(1, num_query_tokens, hidden_size) * initializer_range)  # (1,Q,D)
        self.embed_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.embed_drop = nn.Dropout(dropout)
        self.visual_norm = nn.LayerNorm(input_dim, elementwise_affine=False)  # the K/V projections hold the affine
        self.temporal_embed = (TemporalEmbedding(input_dim, max_temporal_positions, "QFormer")
                               if temporal_pos_embed else None)
        has_text = text_vocab_size > 0
        self.layers = nn.ModuleList(
            _QFormerLayer(hidden_size, input_dim, num_heads, intermediate_size, dropout, layer_norm_eps,
                          cross=i % cross_attention_frequency == 0, text=has_text) for i in range(depth))
        if has_text:
            self.word_embeddings = nn.Embedding(text_vocab_size, hidden_size)
            self.position_embeddings = nn.Embedding(max_text_length, hidden_size)
            self.lm_head = _LMHead(hidden_size, text_vocab_size, layer_norm_eps)
        self.output_proj = nn.Linear(hidden_size, output_dim)
        self.apply(self._init_weights)
        if bert_checkpoint:
            self.load_bert(bert_checkpoint)
        if checkpoint:
            self.load_qformer(checkpoint)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.initializer_range)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    # --- the connector path -------------------------------------------------------------------------------
    def prepare_visual(self, visual_tokens: torch.Tensor, grid=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """LayerNorm-ed visual tokens (B, N, Dv) and the temporal embeddings (T', Dv) of the grid (or None).

        Each cross-attention adds the projected embedding of a token's time step to its keys and values, which
        equals adding it to the token first but keeps the (frozen) tokens out of the backward pass.
        """
        if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != self.input_dim:
            raise ConfigError(f"QFormer expects visual tokens (B, N, {self.input_dim}); got "
                              f"{tuple(visual_tokens.shape)}. input_dim must equal the encoder's embed_dim.")
        steps = None if self.temporal_embed is None else self.temporal_embed.steps(grid, visual_tokens.shape[1])
        return self.visual_norm(visual_tokens), steps

    def _run_layers(self, x: torch.Tensor, visual: tuple | None, mask: torch.Tensor | None,
                    num_query: int) -> torch.Tensor:
        tokens, steps = visual if visual is not None else (None, None)
        for layer in self.layers:
            x = maybe_checkpoint(layer, self.gradient_checkpointing, x, tokens, steps, mask, num_query)
        return x

    def encode_queries(self, visual_tokens: torch.Tensor, grid=None) -> torch.Tensor:
        """Query outputs (B, Q, D) before the output projection."""
        visual = self.prepare_visual(visual_tokens, grid)
        query = self.embed_drop(self.embed_norm(self.query_tokens.expand(visual_tokens.shape[0], -1, -1)))  # (B, Q, D)
        return self._run_layers(query, visual, None, query.shape[1])

    def forward(self, visual_tokens: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """Map visual tokens (B, N, Dv) with grid (T', H', W') to the LLM prefix (B, Q, Dllm)."""
        return self.output_proj(self.encode_queries(visual_tokens, grid))

    # --- the stage-1 text path ----------------------------------------------------------------------------
    def _embed_text(self, text_ids: torch.Tensor) -> torch.Tensor:
        if self.text_vocab_size <= 0:
            raise ConfigError("QFormer: the text path is off (text_vocab_size=0); set model.connector."
                              "text_vocab_size (the stage-1 model injects its tokenizer's size).")
        if text_ids.shape[1] > self.max_text_length:
            raise ConfigError(f"QFormer: text of {text_ids.shape[1]} tokens exceeds max_text_length="
                              f"{self.max_text_length}; truncate the text or raise max_text_length.")
        positions = torch.arange(text_ids.shape[1], device=text_ids.device)
        return self.word_embeddings(text_ids) + self.position_embeddings(positions)[None]  # (B, L, D)

    def encode_text(self, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Unimodal text encoding (B, L, D): bidirectional self-attention over the non-padding tokens."""
        x = self.embed_drop(self.embed_norm(self._embed_text(text_ids)))
        mask = text_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        return self._run_layers(x, None, mask, 0)

    def _joint(self, visual_tokens, grid, text_ids, text_mask, causal: bool):
        visual = self.prepare_visual(visual_tokens, grid)
        query = self.query_tokens.expand(visual_tokens.shape[0], -1, -1)
        x = torch.cat([query, self._embed_text(text_ids)], dim=1)  # (B, Q+L, D)
        x = self.embed_drop(self.embed_norm(x))
        num_query = query.shape[1]
        if causal:
            mask = multimodal_causal_mask(text_mask, num_query)
        else:
            ones = torch.ones(text_mask.shape[0], num_query, dtype=torch.bool, device=text_mask.device)
            mask = torch.cat([ones, text_mask.bool()], dim=1)[:, None, None, :]  # (B, 1, 1, Q+L)
        return self._run_layers(x, visual, mask, num_query)

    def encode_multimodal(self, visual_tokens: torch.Tensor, grid, text_ids: torch.Tensor,
                          text_mask: torch.Tensor) -> torch.Tensor:
        """Joint encoding (B, Q+L, D) with bidirectional attention between queries and text (for matching)."""
        return self._joint(visual_tokens, grid, text_ids, text_mask, causal=False)

    def caption_logits(self, visual_tokens: torch.Tensor, grid, text_ids: torch.Tensor,
                       text_mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, L, V) for video-grounded text generation (multimodal causal mask)."""
        hidden = self._joint(visual_tokens, grid, text_ids, text_mask, causal=True)
        return self.lm_head(hidden[:, self.num_output_tokens:], self.word_embeddings.weight)

    # --- weights ------------------------------------------------------------------------------------------
    def load_bert(self, folder: str) -> None:
        """Initialise from transformers BERT weights in ``folder`` (``qformer_bert_weights.load_bert_weights``)."""
        from .qformer_bert_weights import load_bert_weights

        load_bert_weights(self, folder)

    def load_qformer(self, path: str) -> None:
        """Load a trained Q-Former from an AEGIS checkpoint (keys under ``connector.`` or ``qformer.``).

        ``path`` is a checkpoint file or a work dir (the checkpoint its ``last_checkpoint`` names, else its newest
        ``*.pth``).
        """
        from aegis.engine import safe_load
        from aegis.engine.checkpoint import resolve_checkpoint

        try:
            path = resolve_checkpoint(path, "QFormer.checkpoint")
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} A stage-1 checkpoint comes from experiments/vlm_stage1_tiny_cpu.py.") from None
        checkpoint = safe_load(path)
        state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
        for prefix in ("connector.", "qformer.", ""):
            picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if "query_tokens" in picked:
                break
        else:
            raise CheckpointError(f"QFormer.checkpoint={path!r} holds no Q-Former weights (no 'query_tokens' "
                                  "under 'connector.', 'qformer.' or the top level).")
        own = self.state_dict()
        wanted = {k for k in own if not k.startswith("output_proj.")}
        text_keys = {k for k in own if k.startswith(("word_embeddings.", "position_embeddings.", "lm_head."))
                     or ".ffn_text." in k}
        missing = sorted(k for k in wanted - text_keys if k not in picked)
        if missing:
            raise CheckpointError(f"QFormer.checkpoint={path!r} lacks {len(missing)} Q-Former key(s), e.g. "
                                  f"{missing[:5]}; was it trained with the same depth and "
                                  "cross_attention_frequency?")
        load = {k: v for k, v in picked.items() if k in wanted}
        for key, value in load.items():
            if own[key].shape != value.shape:
                raise CheckpointError(f"QFormer.checkpoint={path!r}: {key} has shape {tuple(value.shape)}, the "
                                      f"Q-Former expects {tuple(own[key].shape)}; match the connector's sizes.")
        self.load_state_dict(load, strict=False)
