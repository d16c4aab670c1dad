"""BLIP-2 stage-1 objectives for a Q-Former on a frozen video encoder: contrastive, matching, grounded captioning.

Li et al., "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language Models",
ICML 2023, Sec. 3.2 (with video clips in place of images):

- video-text contrastive (VTC): the similarity of a clip and a text is the highest similarity between any query
  output and the text's [CLS] feature; InfoNCE over the batch in both directions.
- video-text matching (VTM): a binary matched / not-matched classifier on the query outputs of the joint
  (bidirectional) encoding, with hard negatives sampled from the contrastive similarities.
- video-grounded text generation (VTG): the Q-Former's text path predicts the caption under the multimodal causal
  mask, so the queries must carry everything the text needs.

Differences from BLIP-2, on purpose: captions repeated within a batch (common in small synthetic sets) are not
treated as negatives of each other (soft contrastive targets; excluded from negative sampling), and features are not
gathered across processes (in-batch negatives per process).

Every term takes a :class:`VideoTextPairs` (built by ``QFormerPretrainer``) and returns a weighted scalar;
``loss_name`` (which must contain "loss") is the key it is logged under as ``train/<loss_name>``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegis.contracts import check_loss_name
from aegis.errors import ConfigError

__all__ = ["VideoTextPairs", "VideoTextContrastiveLoss", "VideoTextMatchingLoss", "GroundedCaptioningLoss"]

IGNORE_INDEX = -100


@dataclass
class VideoTextPairs:
    """A batch of B matching (clip, caption) pairs and what the stage-1 losses read from it.

    ``qformer``: the Q-Former (with its text path); ``visual_tokens`` (B, N, Dv) from the frozen encoder and their
    ``grid`` (T', H', W') or None; ``text_ids``/``text_mask`` (B, L) start with [CLS]; ``decoder_ids`` (B, L) are the
    same with [DEC] first; ``sim_v2t`` (B, B) clip-to-text similarity logits (already divided by the temperature;
    ``sim_t2v`` its text-to-clip counterpart); ``same_text`` (B, B) True where two captions are identical.
    """

    qformer: nn.Module
    visual_tokens: Tensor
    grid: tuple[int, int, int] | None
    text_ids: Tensor
    text_mask: Tensor
    decoder_ids: Tensor
    sim_v2t: Tensor | None
    sim_t2v: Tensor | None
    same_text: Tensor


def _need_similarity(owner: str, pairs: VideoTextPairs) -> None:
    if pairs.sim_v2t is None or pairs.sim_t2v is None:
        raise ConfigError(f"{owner} needs the contrastive similarities (sim_v2t, sim_t2v); QFormerPretrainer "
                          "computes them when a loss has needs_similarity = True.")


class VideoTextContrastiveLoss(nn.Module):
    """``loss_weight`` x the mean of clip->text and text->clip cross-entropies over the (B, B) similarity logits.

    Targets are uniform over the captions identical to the pair's own (one-hot when captions are distinct).
    """

    needs_similarity = True

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.0,
                 loss_name: str = "vtc_loss") -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"VideoTextContrastiveLoss.label_smoothing={label_smoothing} must be in [0, 1).")
        self.loss_weight, self.label_smoothing = float(loss_weight), float(label_smoothing)
        self.loss_name = check_loss_name("VideoTextContrastiveLoss", loss_name)

    def forward(self, pairs: VideoTextPairs) -> Tensor:
        _need_similarity("VideoTextContrastiveLoss", pairs)
        targets = pairs.same_text.float()
        targets = targets / targets.sum(dim=1, keepdim=True)  # (B, B), rows sum to 1
        if self.label_smoothing:
            targets = targets * (1 - self.label_smoothing) + self.label_smoothing / targets.shape[1]
        v2t = -(targets * F.log_softmax(pairs.sim_v2t, dim=1)).sum(1).mean()
        t2v = -(targets * F.log_softmax(pairs.sim_t2v, dim=1)).sum(1).mean()
        return self.loss_weight * (v2t + t2v) / 2


class VideoTextMatchingLoss(nn.Module):
    """``loss_weight`` x cross-entropy of a matched / not-matched head on the joint query outputs.

    For B pairs it scores the B positives, one negative caption per clip and one negative clip per caption. With
    ``hard_negatives`` the negatives are drawn with probability softmax(similarity) (BLIP-2's hard-negative
    mining), otherwise uniformly; identical captions are never drawn as negatives. The head is Linear(D, 2) on each
    query output, averaged over the Q queries; ``hidden_size`` (D) is injected by the pretrainer.
    """

    needs_similarity = True
    def __init__(self, hidden_size: int, loss_weight: float = 1.0, hard_negatives: bool = True,
                 loss_name: str = "vtm_loss") -> None:
        super().__init__()
        self.head = nn.Linear(hidden_size, 2)
        self.loss_weight, self.hard_negatives = float(loss_weight), bool(hard_negatives)
        self.loss_name = check_loss_name("VideoTextMatchingLoss", loss_name)

    @torch.no_grad()
    def sample_negatives(self, sim: Tensor, same: Tensor) -> tuple[Tensor, Tensor]:
        """For each row of ``sim`` (B, B), a column index that is not the same text; returns (rows, columns)."""
        weights = sim.float().softmax(dim=1) if self.hard_negatives else torch.ones_like(sim, dtype=torch.float)
        weights = weights.masked_fill(same, 0.0)
        rows = torch.nonzero(weights.sum(dim=1) > 0).flatten()
        if rows.numel() == 0:
            return rows, rows
        columns = torch.multinomial(weights[rows] + 1e-12 * (~same[rows]), 1).flatten()
        return rows, columns

    def logits(self, pairs: VideoTextPairs, clip_index: Tensor, text_index: Tensor) -> Tensor:
        """Matching logits (P, 2) of the clips and captions picked by two (P,) index tensors."""
        joint = pairs.qformer.encode_multimodal(pairs.visual_tokens[clip_index], pairs.grid,
                                                pairs.text_ids[text_index], pairs.text_mask[text_index])
        queries = joint[:, :pairs.qformer.num_output_tokens]  # (P, Q, D)
        return self.head(queries).mean(dim=1)  # (P, 2)

    def forward(self, pairs: VideoTextPairs) -> Tensor:
        _need_similarity("VideoTextMatchingLoss", pairs)
        batch = pairs.text_ids.shape[0]
        own = torch.arange(batch, device=pairs.text_ids.device)
        clips_a, texts_a = self.sample_negatives(pairs.sim_v2t, pairs.same_text)  # a negative caption per clip
        texts_b, clips_b = self.sample_negatives(pairs.sim_t2v, pairs.same_text.t())  # a negative clip per caption
        clip_index = torch.cat([own, clips_a, clips_b])
        text_index = torch.cat([own, texts_a, texts_b])
        labels = torch.zeros_like(clip_index)
        labels[:batch] = 1
        return self.loss_weight * F.cross_entropy(self.logits(pairs, clip_index, text_index), labels)


class GroundedCaptioningLoss(nn.Module):
    """``loss_weight`` x next-token cross-entropy of the caption through the Q-Former's text path.

    The decoder input is the caption with [DEC] first under the multimodal causal mask (text sees the queries, the
    queries do not see text); every non-padding token after [DEC] is a target. BLIP-2 uses label smoothing 0.1.
    """

    needs_similarity = False

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.1,
                 loss_name: str = "vtg_loss") -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"GroundedCaptioningLoss.label_smoothing={label_smoothing} must be in [0, 1).")
        self.loss_weight, self.label_smoothing = float(loss_weight), float(label_smoothing)
        self.loss_name = check_loss_name("GroundedCaptioningLoss", loss_name)

    def forward(self, pairs: VideoTextPairs) -> Tensor:
        logits = pairs.qformer.caption_logits(pairs.visual_tokens, pairs.grid, pairs.decoder_ids, pairs.text_mask)
        labels = pairs.decoder_ids[:, 1:].masked_fill(~pairs.text_mask[:, 1:].bool(), IGNORE_INDEX)  # (B, L-1)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                               label_smoothing=self.label_smoothing)
        return self.loss_weight * loss
