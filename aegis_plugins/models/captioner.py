"""Video captioning with a frozen video encoder, a trainable connector and a frozen LLM fed a soft visual prefix,
the BLIP-2 recipe (Li et al., 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and
Large Language Models") applied to V-JEPA video tokens (Bardes et al., 2024, "Revisiting Feature Prediction for
Learning Visual Representations from Video").

The LLM reads ``<s> [Q prefix embeddings] prompt caption </s>``; the loss is cross-entropy on the caption tokens and
``</s>`` only. Also here: the hook that logs generated samples every validation epoch, and :func:`show_alerts`, which
prints generated alerts for held-out videos beside their references (``make demo``).
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError, MissingDependencyError

__all__ = ["VideoCaptioner", "CaptionSamplesHook", "show_alerts", "load_captioner", "caption_video_file",
           "write_annotated_video", "resolve_checkpoint", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # label value the cross-entropy skips


class VideoCaptioner(BaseModel):
    """Frozen encoder -> connector -> soft prefix -> frozen LLM.

    ``inputs`` (B, C, T, H, W) -> encoder tokens (B, N, Dv) -> connector prefix (B, Q, Dllm) -> LLM. The connector's
    ``input_dim``/``output_dim`` are injected from ``encoder.embed_dim`` and ``llm.hidden_size`` (a config that sets
    them to other values is an error). ``mode="loss"`` returns ``dict(loss=...)`` (token cross-entropy on captions),
    ``mode="predict"`` returns one dict per sample with ``pred_caption`` (greedy, or beam search with
    ``num_beams > 1``) and the references, ``mode="tensor"`` the prefix (B, Q, Dllm). Only the connector (and LoRA
    adapters inside the LLM, if configured) receives gradients. ``encoder_checkpoint`` names a phase-1 work dir
    (e.g. ``work_dirs/vjepa_pretrain_tiny``: its newest checkpoint is used) or file, and sets the encoder's
    ``checkpoint``. ``prefix_position`` puts the visual prefix before (BLIP-2) or after the prompt.
    ``motion_tokens`` appends the differences of consecutive time steps' tokens to the visual tokens (the connector
    then sees a grid of 2T'-1 time steps), a cheap explicit motion cue for speed words. In training the target is a
    random one of the sample's ``captions`` (``sample_all_captions``) or always the first (canonical) one.
    Checkpoints hold the connector (and LoRA) plus any frozen part that has no weights file in the config; frozen
    parts loaded from a file (encoder checkpoint, LLM folder or checkpoint) are rebuilt from it unless
    ``save_frozen``.
    """

    def __init__(self, encoder: dict, connector: dict, llm: dict, prompt: str = "Describe the disaster in this video:",
                 max_caption_tokens: int = 32, max_new_tokens: int = 24, num_beams: int = 1,
                 sample_all_captions: bool = True, prefix_position: str = "before_prompt",
                 encoder_checkpoint: str | None = None, motion_tokens: bool = False, save_frozen: bool = False,
                 data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if num_beams < 1 or max_new_tokens < 1 or max_caption_tokens < 1:
            raise ConfigError(f"model: num_beams={num_beams}, max_new_tokens={max_new_tokens} and "
                              f"max_caption_tokens={max_caption_tokens} must all be >= 1.")
        _check_declared_widths(encoder, connector, llm)
        from aegis.registry import CONNECTORS, ENCODERS, LLMS

        # First the things that may be missing (weights, GPU, packages), all reported together before any build.
        problems: list[Exception] = []
        if encoder_checkpoint is not None:  # a phase-1 work dir (its newest checkpoint) or a file
            try:
                encoder = dict(encoder, checkpoint=resolve_checkpoint(encoder_checkpoint, "model.encoder_checkpoint"))
            except CheckpointError as exc:
                problems.append(exc)
        try:
            self.llm = build_component(llm, LLMS, path="model.llm")
        except (CheckpointError, MissingDependencyError) as exc:
            problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            raise CheckpointError("\n".join(str(p) for p in problems))
        self.encoder = build_component(encoder, ENCODERS, path="model.encoder")
        visual_dim, llm_dim = int(self.encoder.embed_dim), int(self.llm.hidden_size)
        _check_built_widths(connector, visual_dim, llm_dim)
        self.connector = build_component(connector, CONNECTORS, path="model.connector",
                                         default_args=dict(input_dim=visual_dim, output_dim=llm_dim))
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()
        # Frozen weights that come from a file named in the config are not repeated in every training checkpoint
        # (a 4-bit 8B LLM or a ViT-L would make each one gigabytes); LoRA adapters and the connector always are.
        self._external = set()
        if not save_frozen and isinstance(encoder, Mapping) and encoder.get("checkpoint"):
            self._external.add("encoder.")
        if not save_frozen and getattr(self.llm, "frozen", False) and (
                getattr(self.llm, "checkpoint", None) or getattr(self.llm, "name_or_path", None)):
            self._external.add("llm.")
        self.register_state_dict_post_hook(_drop_external_weights)
        if prefix_position not in ("before_prompt", "after_prompt"):
            raise ConfigError(f"model.prefix_position={prefix_position!r}; expected 'before_prompt' (BLIP-2's "
                              "layout) or 'after_prompt'.")
        self.motion_tokens = motion_tokens
        self.prompt, self.prefix_position, self.max_caption_tokens = prompt, prefix_position, max_caption_tokens
        self.max_new_tokens, self.num_beams, self.sample_all_captions = max_new_tokens, num_beams, sample_all_captions
        self.bos_ids = [self.llm.bos_token_id] if self.llm.bos_token_id is not None else []
        self.prompt_ids = self.llm.encode(prompt) if prompt else []

    def train(self, mode: bool = True):
        """The encoder and a frozen LLM stay in eval mode; the connector follows ``mode``."""
        super().train(mode)
        self.encoder.eval()
        self.llm.train(mode)
        return self

    # --- pieces ---------------------------------------------------------------------------------------------
    def visual_prefix(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) clips -> (B, Q, Dllm) soft prefix."""
        with torch.no_grad():
            tokens = self.encoder(inputs)  # (B, N, Dv)
        grid = self.encoder.grid_of(inputs.shape) if hasattr(self.encoder, "grid_of") else None
        if grid is not None and grid[0] * grid[1] * grid[2] != tokens.shape[1]:
            grid = None
        if self.motion_tokens:
            if grid is None:
                raise ConfigError("model.motion_tokens=True needs an encoder with a (T', H', W') token grid "
                                  "(grid_of); this encoder has none.")
            batch, _, width = tokens.shape
            steps = tokens.reshape(batch, grid[0], grid[1] * grid[2], width)  # (B, T', H'W', Dv)
            motion = steps[:, 1:] - steps[:, :-1]  # (B, T'-1, H'W', Dv)
            tokens = torch.cat([steps, motion], dim=1).reshape(batch, -1, width)  # (B, (2T'-1) H'W', Dv)
            grid = (2 * grid[0] - 1, grid[1], grid[2])
        return self.connector(tokens.detach(), grid=grid)  # (B, Q, Dllm)

    def assemble(self, prefix: torch.Tensor, captions: Sequence[str] | None = None,
                 prompt_ids: Sequence[int] | None = None):
        """Lay out ``<s> prefix prompt [caption </s>]`` (or ``<s> prompt prefix [caption </s>]`` with
        ``prefix_position="after_prompt"``) per sample, right-padded.

        Returns ``embeds`` (B, L, Dllm), ``attention_mask`` (B, L) and ``labels`` (B, L): the caption token ids and
        ``</s>`` at their positions, :data:`IGNORE_INDEX` at every ``<s>``, prefix, prompt and padding position.
        Without captions (generation) every sample has the same length and ``labels`` is None.
        """
        batch, num_queries, _ = prefix.shape
        device = prefix.device
        prompt_ids = list(self.prompt_ids if prompt_ids is None else prompt_ids)
        after = self.prefix_position == "after_prompt"
        head_ids = self.bos_ids + (prompt_ids if after else [])  # tokens before the prefix
        given = [] if after else prompt_ids  # tokens between the prefix and the caption
        tail_ids = [list(given) for _ in range(batch)]
        caption_lens = [0] * batch
        for i, caption in enumerate(captions or []):
            ids = self.llm.encode(" " + caption.strip())[: self.max_caption_tokens] + [self.llm.eos_token_id]
            tail_ids[i] += ids
            caption_lens[i] = len(ids)
        width = max(len(t) for t in tail_ids)
        tail = torch.full((batch, width), self.llm.pad_token_id, dtype=torch.long, device=device)  # (B, Lt)
        tail_mask = torch.zeros(batch, width, dtype=torch.long, device=device)
        for i, ids in enumerate(tail_ids):
            tail[i, : len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
            tail_mask[i, : len(ids)] = 1
        parts = [prefix]
        if head_ids:
            head = torch.tensor(head_ids, dtype=torch.long, device=device)
            parts.insert(0, self.llm.embed_tokens(head).to(prefix.dtype).unsqueeze(0).expand(batch, -1, -1))
        if width:
            parts.append(self.llm.embed_tokens(tail).to(prefix.dtype))
        embeds = torch.cat(parts, dim=1)  # (B, L, D)
        lead = len(head_ids) + num_queries
        mask = torch.cat([torch.ones(batch, lead, dtype=torch.long, device=device), tail_mask], dim=1)  # (B, L)
        if captions is None:
            return embeds, mask, None
        labels = torch.full((batch, lead + width), IGNORE_INDEX, dtype=torch.long, device=device)  # (B, L)
        for i, n in enumerate(caption_lens):
            labels[i, lead + len(given): lead + len(given) + n] = tail[i, len(given): len(given) + n]
        return embeds, mask, labels

    def _pick_captions(self, data_samples: Sequence[Mapping]) -> list[str]:
        captions = []
        for i, sample in enumerate(data_samples):
            choices = list(sample.get("captions") or [])
            if choices and self.training:
                caption = random.choice(choices) if self.sample_all_captions else choices[0]
            else:
                caption = sample.get("caption")
            if not caption:
                raise ConfigError(f"VideoCaptioner: data_samples[{i}] has no 'caption' (keys: {sorted(sample)}); "
                                  "the dataset must give each sample a caption string.")
            captions.append(str(caption))
        return captions

    # --- mmengine entry points ------------------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, data_samples: Sequence[Mapping] | None = None, mode: str = "tensor"):
        if mode == "loss":
            if data_samples is None:
                raise ConfigError("VideoCaptioner: mode='loss' needs data_samples with captions.")
            prefix = self.visual_prefix(inputs)
            embeds, mask, labels = self.assemble(prefix, self._pick_captions(data_samples))
            out = self.llm(inputs_embeds=embeds, attention_mask=mask, labels=labels)
            return dict(loss=out.loss.float())
        if mode == "predict":
            texts = self.generate(inputs)
            samples = data_samples if data_samples is not None else [{} for _ in texts]
            return [_prediction(text, sample) for text, sample in zip(texts, samples)]
        if mode == "tensor":
            return self.visual_prefix(inputs)
        raise ConfigError(f"VideoCaptioner.forward: mode={mode!r}; expected 'loss', 'predict' or 'tensor'.")

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor, max_new_tokens: int | None = None, num_beams: int | None = None,
                 prompt: str | None = None) -> list[str]:
        """(B, C, T, H, W) clips -> B generated captions (greedy when ``num_beams == 1``, else beam search)."""
        prompt_ids = None if prompt is None else (self.llm.encode(prompt) if prompt else [])
        embeds, mask, _ = self.assemble(self.visual_prefix(inputs), prompt_ids=prompt_ids)
        ids = self.llm.generate(embeds, mask, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                num_beams=num_beams or self.num_beams)  # (B, L_new)
        texts = []
        for row in ids.tolist():
            if self.llm.eos_token_id in row:
                row = row[: row.index(self.llm.eos_token_id)]
            texts.append(self.llm.decode(row))
        return texts


def _drop_external_weights(module: VideoCaptioner, state_dict, prefix: str, local_metadata) -> None:
    """state_dict post-hook: remove the frozen weights whose source file the config names (LoRA weights stay)."""
    for key in list(state_dict):
        name = key[len(prefix):]
        if any(name.startswith(part) for part in module._external) and "lora_" not in name:
            del state_dict[key]


def _prediction(text: str, sample: Mapping) -> dict:
    keep = ("caption", "captions", "label", "class_name", "params", "video_path")
    out = {k: sample[k] for k in keep if k in sample}
    out["pred_caption"] = text
    return out


def _declared(cfg: Mapping, key: str):
    value = cfg.get(key) if isinstance(cfg, Mapping) else getattr(cfg, key, None)
    return int(value) if isinstance(value, int) else None


def _check_declared_widths(encoder: Mapping, connector: Mapping, llm: Mapping) -> None:
    """Before building: a connector width set in the config must equal the encoder's / LLM's declared width."""
    pairs = (("input_dim", _declared(encoder, "embed_dim"), "model.encoder.embed_dim"),
             ("output_dim", _declared(llm, "hidden_size"), "model.llm.hidden_size"))
    for key, width, source in pairs:
        given = _declared(connector, key)
        if given is not None and width is not None and given != width:
            raise ConfigError(f"model.connector.{key}={given} does not match {source}={width}. Widths flow between "
                              f"the parts: remove model.connector.{key} from the config (it is injected), or set "
                              f"it to {width}.")


def _check_built_widths(connector: Mapping, visual_dim: int, llm_dim: int) -> None:
    for key, width, source in (("input_dim", visual_dim, "the encoder's embed_dim"),
                               ("output_dim", llm_dim, "the LLM's hidden_size")):
        given = _declared(connector, key)
        if given is not None and given != width:
            raise ConfigError(f"model.connector.{key}={given} does not match {source} ({width}); remove "
                              f"model.connector.{key} (it is injected) or set it to {width}.")


class CaptionSamplesHook(Hook):
    """Captions the first ``num_samples`` validation videos before training and after every ``interval`` training
    epochs, logs the (video, reference, generated) triples, appends them to ``<work_dir>/samples.jsonl`` and keeps the
    latest in ``<work_dir>/examples.txt``, so the progression random -> generic -> disaster-specific is visible.
    With ``test_at_end`` the test split is captioned and scored after training (``test/*`` in ``metrics.json``) and
    ``num_samples`` test examples are printed and written to ``<work_dir>/test_examples.txt``."""

    priority = "LOW"

    def __init__(self, num_samples: int = 6, interval: int = 1, before_training: bool = True,
                 test_at_end: bool = False) -> None:
        if num_samples < 1 or interval < 1:
            raise ConfigError(f"CaptionSamplesHook: num_samples={num_samples} and interval={interval} must be >= 1.")
        self.num_samples, self.interval, self.before_training = num_samples, interval, before_training
        self.test_at_end = test_at_end
        self._batches: list | None = None

    def after_train(self, runner) -> None:
        if not self.test_at_end or getattr(runner, "_test_dataloader", None) is None:
            return
        metrics, rows = evaluate_captions(runner, runner._test_dataloader, runner._test_evaluator)
        from aegis.engine import write_metrics_json

        write_metrics_json(runner.work_dir, {f"test/{k}": v for k, v in metrics.items()})
        shown = rows[:: max(1, len(rows) // self.num_samples)][: self.num_samples]  # spread over the split
        lines = ["test split: " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()),
                 "(video, reference, generated) examples:"] + [
            f"  {Path(r['video']).name}\n    reference: {r['reference']}\n    generated: {r['generated']}"
            for r in shown]
        runner.logger.info("\n".join(lines))
        tmp = Path(runner.work_dir) / "test_examples.txt.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, Path(runner.work_dir) / "test_examples.txt")

    def before_train(self, runner) -> None:
        if self.before_training:
            self.sample(runner, epoch=0)

    def after_train_epoch(self, runner) -> None:
        if (runner.epoch + 1) % self.interval == 0:
            self.sample(runner, epoch=runner.epoch + 1)

    def _val_batches(self, runner) -> list:
        """The first validation batches holding ``num_samples`` videos (read once, kept for every epoch)."""
        if self._batches is None:
            loader = getattr(runner, "_val_dataloader", None)
            self._batches = []
            if loader is None:
                return self._batches
            if isinstance(loader, Mapping):
                loader = runner.build_dataloader(loader)
                runner._val_dataloader = loader
            count = 0
            for batch in loader:
                self._batches.append(batch)
                count += len(batch["data_samples"])
                if count >= self.num_samples:
                    break
        return self._batches

    def sample(self, runner, epoch: int) -> list[dict]:
        """Caption the kept validation videos with the current model; log and write the triples."""
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        was_training = model.training
        model.eval()
        rows: list[dict] = []
        with torch.no_grad():
            for batch in self._val_batches(runner):
                for out in model.val_step(batch):
                    if len(rows) < self.num_samples:
                        rows.append(dict(video=str(out.get("video_path", "?")), reference=str(out.get("caption", "")),
                                         generated=str(out["pred_caption"])))
        model.train(was_training)
        if rows:
            self._emit(runner, epoch, rows)
        return rows

    @staticmethod
    def _emit(runner, epoch: int, rows: list[dict]) -> None:
        lines = [f"caption samples after epoch {epoch}:"] + [
            f"  {Path(s['video']).name}\n    reference: {s['reference']}\n    generated: {s['generated']}"
            for s in rows]
        runner.logger.info("\n".join(lines))
        work_dir = Path(runner.work_dir)
        with open(work_dir / "samples.jsonl", "a", encoding="utf-8") as f:
            for s in rows:
                f.write(json.dumps(dict(epoch=epoch, **s)) + "\n")
        tmp = work_dir / "examples.txt.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, work_dir / "examples.txt")


def evaluate_captions(runner, dataloader, evaluator) -> tuple[dict, list[dict]]:
    """Caption every video of ``dataloader`` (a config or a loader) with ``runner.model`` and score it with
    ``evaluator`` (a config or an Evaluator). Returns the metrics and one (video, reference, generated) row per
    video."""
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    loader = runner.build_dataloader(dataloader) if isinstance(dataloader, Mapping) else dataloader
    evaluator = runner.build_evaluator(evaluator) if not hasattr(evaluator, "process") else evaluator
    evaluator.dataset_meta = getattr(loader.dataset, "metainfo", None)
    was_training = model.training
    model.eval()
    rows: list[dict] = []
    with torch.no_grad():
        for batch in loader:
            outputs = model.test_step(batch)
            evaluator.process(data_samples=outputs, data_batch=batch)
            rows += [dict(video=str(o.get("video_path", "?")), reference=str(o.get("caption", "")),
                          generated=str(o["pred_caption"]), class_name=o.get("class_name")) for o in outputs]
    model.train(was_training)
    return evaluator.evaluate(len(loader.dataset)), rows


def show_alerts(experiment: str, checkpoint: str | None = None, split: str = "test", num: int = 8,
                cfg_options: dict | None = None, num_beams: int | None = None, print_fn=print) -> list[dict]:
    """Print generated alerts for ``num`` held-out videos of ``experiment`` beside their references.

    ``checkpoint`` defaults to the newest checkpoint in the experiment's work dir; ``split`` picks
    ``test_dataloader`` or ``val_dataloader`` of the experiment. Returns the printed (video, reference, generated,
    class_name) dicts.
    """
    from aegis.registry import DATASETS, FUNCTIONS

    model, cfg = load_captioner(experiment, checkpoint, cfg_options)
    checkpoint = checkpoint or latest_checkpoint(cfg.work_dir)
    key = f"{split}_dataloader"
    if key not in cfg or cfg[key] is None:
        raise ConfigError(f"{experiment}: has no {key}; expected split 'val' or 'test'.")
    dataset = DATASETS.build(cfg[key]["dataset"])
    collate = cfg[key].get("collate_fn")
    collate_fn = FUNCTIONS.get(collate["type"]) if collate else None
    rows: list[dict] = []
    print_fn(f"AEGIS alerts for {min(num, len(dataset))} held-out videos ({split} split, {checkpoint}):")
    for start in range(0, min(num, len(dataset)), 4):
        items = [dataset[i] for i in range(start, min(start + 4, num, len(dataset)))]
        batch = collate_fn(items) if collate_fn else dict(inputs=torch.stack([it["inputs"] for it in items]),
                                                           data_samples=[it["data_samples"] for it in items])
        with torch.no_grad():
            texts = model.generate(batch["inputs"].float(), num_beams=num_beams)
        for sample, text in zip(batch["data_samples"], texts):
            row = dict(video=str(sample.get("video_path", "?")), reference=str(sample.get("caption", "")),
                       generated=text, class_name=sample.get("class_name"))
            rows.append(row)
            print_fn(f"  [{Path(row['video']).name}]\n    reference: {row['reference']}\n"
                     f"    ALERT:     {row['generated']}")
    return rows


def latest_checkpoint(work_dir: str) -> str:
    """The newest ``*.pth`` checkpoint named by ``last_checkpoint`` or found in ``work_dir``."""
    return resolve_checkpoint(work_dir, "--checkpoint")


def resolve_checkpoint(path: str, key: str) -> str:
    """``path`` if it is a file; for a work dir, the checkpoint its ``last_checkpoint`` names, else its newest
    ``*.pth``. A CheckpointError naming ``key`` and the path when there is none."""
    from aegis.errors import CheckpointError

    folder = Path(path)
    if folder.is_file():
        return str(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{key}={path!r}: no such file or folder. Train the experiment that writes it first "
                              "(make demo runs the phases in order) or point it at an existing checkpoint.")
    pointer = folder / "last_checkpoint"
    if pointer.is_file():
        target = Path(pointer.read_text(encoding="utf-8").strip())
        for candidate in (target, folder / target.name):
            if candidate.is_file():
                return str(candidate)
    candidates = sorted(folder.glob("*.pth"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise CheckpointError(f"{key}={path!r}: the folder has no checkpoint (no last_checkpoint file, no *.pth); "
                              "train that experiment first or name a checkpoint file.")
    return str(candidates[-1])


def load_captioner_weights(model: torch.nn.Module, checkpoint: str) -> None:
    """Load a training checkpoint (its ``state_dict``) into ``model`` with weights_only=True; a clear error if the
    file is missing, corrupt or holds another model."""
    from aegis.errors import CheckpointError
    from aegis_plugins.llms.base import load_weights

    if not Path(checkpoint).is_file():
        raise CheckpointError(f"checkpoint {checkpoint!r} does not exist.")
    state = load_weights(checkpoint)
    state = state.get("state_dict", state) if isinstance(state, Mapping) else state
    missing, unexpected = model.load_state_dict(state, strict=False)
    trained = [k for k in missing if k.startswith("connector.")]
    if trained or unexpected:
        raise CheckpointError(f"checkpoint {checkpoint!r} does not fit this model: missing connector weights "
                              f"{trained[:5]}, unexpected keys {list(unexpected)[:5]}. Was it written by another "
                              "experiment? Pass the matching --experiment.")


def load_captioner(experiment: str, checkpoint: str | None = None, cfg_options: dict | None = None):
    """Build the experiment's ``VideoCaptioner`` in eval mode with ``checkpoint`` (default: the newest checkpoint of
    the experiment's work dir). Returns ``(model, cfg)``."""
    from aegis import plugins
    from aegis.config import load_experiment
    from aegis.registry import MODELS

    plugins.load()
    cfg = load_experiment(experiment, cfg_options=cfg_options)
    model = MODELS.build(cfg.model)
    load_captioner_weights(model, checkpoint or latest_checkpoint(cfg.work_dir))
    return model.eval(), cfg


def clip_from_file(cfg, video: str) -> torch.Tensor:
    """The (C, T, H, W) evaluation clip of ``video`` through the experiment's test (else val) pipeline."""
    from aegis.errors import DataError
    from aegis.registry import TRANSFORMS

    path = Path(video)
    if not path.is_file():
        raise DataError(f"--video {video!r}: no such file.")
    loader = cfg.get("test_dataloader") or cfg.get("val_dataloader") or cfg.get("train_dataloader")
    pipeline = loader["dataset"].get("pipeline") if loader else None
    if pipeline is None:
        raise ConfigError("the experiment's dataloaders have no dataset.pipeline to read a video with.")
    steps = [TRANSFORMS.build(dict(t)) for t in (pipeline if isinstance(pipeline, (list, tuple)) else [pipeline])]
    results = dict(video_path=str(path), test_mode=True, params={}, caption="", captions=[])
    try:
        for step in steps:
            results = step(results)
    except DataError as exc:
        raise DataError(f"--video {video!r} cannot be used: {exc}") from None
    except Exception as exc:  # a decoder's own error on a file that is not a video
        raise DataError(f"--video {video!r} is not a readable video ({type(exc).__name__}: {exc}).") from None
    clip = results.get("inputs")
    if not isinstance(clip, torch.Tensor):
        raise ConfigError("the experiment's pipeline must end with ToTensorVideo/NormalizeVideo (results['inputs']).")
    return clip


def caption_video_file(model: VideoCaptioner, cfg, video: str, num_beams: int | None = None) -> str:
    """The generated alert for one video file."""
    clip = clip_from_file(cfg, video)
    if clip.dim() == 5:  # (num_clips, C, T, H, W): caption the first view
        clip = clip[0]
    with torch.no_grad():
        return model.generate(clip.unsqueeze(0).float(), num_beams=num_beams)[0]  # (1, C, T, H, W) in


def write_annotated_video(video: str, out: str, text: str, width: int = 480) -> str:
    """Re-encode ``video`` to ``out`` (H.264 mp4) with ``text`` drawn on a bar under every frame."""
    import cv2
    import numpy as np

    from aegis_plugins.data.video_io import open_video, write_video

    reader = open_video(video)
    try:
        frames = reader.get_frames(list(range(reader.num_frames)))  # (T, H, W, 3) uint8
        fps = reader.fps or 8.0
    finally:
        reader.close()
    _, h, w, _ = frames.shape
    scale = width / w
    new_h = int(round(h * scale / 2) * 2)
    lines = _wrap(f"ALERT: {text}", max_chars=max(20, width // 11))
    bar = 14 + 22 * len(lines)
    out_frames = np.zeros((len(frames), new_h + bar + (bar % 2), width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out_frames[i, :new_h] = cv2.resize(frame, (width, new_h), interpolation=cv2.INTER_NEAREST)
        for j, line in enumerate(lines):
            cv2.putText(out_frames[i], line, (8, new_h + 22 + 22 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        (255, 220, 80), 1, cv2.LINE_AA)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return write_video(out, out_frames, fps=fps)


def _wrap(text: str, max_chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > max_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
