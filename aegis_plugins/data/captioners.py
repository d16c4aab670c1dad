"""Auto-captioners for preparing real data: turn a video file into a caption string.

``OpenAIChatCaptioner`` sends a few evenly spaced frames as JPEG images to an OpenAI-compatible chat-completions
endpoint (the training guide auto-captions with GPT-4; any server speaking that API works: vLLM, llama.cpp, Ollama).
``CheckpointCaptioner`` runs a trained AEGIS video-language model (any MODELS entry with ``generate(inputs)``, e.g.
``VideoCaptioner``, the BLIP-2 recipe of Li et al., 2023, on V-JEPA tokens) from an experiment file and checkpoint.
Both take ``caption(video_path) -> str`` and ``caption_many(paths) -> list[str]``.
"""
from __future__ import annotations

import base64
import inspect
import io
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.logging import print_log

from aegis.errors import CheckpointError, ConfigError, DataError
from aegis.annotations import ExistingPath

from .video_io import open_video

__all__ = ["OpenAIChatCaptioner", "CheckpointCaptioner", "sample_frames", "DEFAULT_PROMPT"]

DEFAULT_PROMPT = ("These are frames from one video, in time order. In one short sentence, say what disaster (if "
                  "any) is happening and how it evolves: its speed (rapidly/slowly) and direction, e.g. "
                  "'Water level rising rapidly' or 'Fire spreading slowly to the east'.")


def sample_frames(video_path: str, num_frames: int, backend: str = "auto") -> np.ndarray:
    """``num_frames`` evenly spaced frames of the whole video, (num_frames, H, W, 3) uint8."""
    reader = open_video(video_path, backend)
    try:
        idx = np.linspace(0, reader.num_frames - 1, num_frames).round().astype(int)
        return reader.get_frames(idx.tolist())
    finally:
        reader.close()


def _jpeg_data_url(frame: np.ndarray, max_side: int, quality: int = 85) -> str:
    from PIL import Image
    img = Image.fromarray(frame)
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAIChatCaptioner:
    """Caption a video with an OpenAI-compatible ``/chat/completions`` endpoint from ``num_frames`` sampled frames.

    ``base_url`` and ``api_key`` come from the config, else from the environment variables named by
    ``base_url_env`` / ``api_key_env``; the base URL defaults to OpenAI's. A key is required for api.openai.com
    and optional elsewhere (local servers). Rate limits and server errors (429, 5xx) are retried ``retries`` times
    with exponential backoff; other HTTP errors raise :class:`DataError` naming the video and the server's message.
    """

    def __init__(self, model: str = "gpt-4o", base_url: str | None = None, api_key: str | None = None,
                 base_url_env: str = "OPENAI_BASE_URL", api_key_env: str = "OPENAI_API_KEY", num_frames: int = 4,
                 max_side: int = 512, prompt: str = DEFAULT_PROMPT, system_prompt: str | None = None,
                 max_tokens: int = 60, temperature: float = 0.2, timeout: float = 60.0, retries: int = 2,
                 backoff: float = 1.0, backend: str = "auto") -> None:
        if num_frames < 1:
            raise ConfigError(f"OpenAIChatCaptioner.num_frames={num_frames}; need at least 1 frame")
        self.base_url = (base_url or os.environ.get(base_url_env) or "https://api.openai.com/v1").rstrip("/")
        self.api_key = api_key or os.environ.get(api_key_env)
        if not self.api_key and "api.openai.com" in self.base_url:
            raise ConfigError(f"OpenAIChatCaptioner needs an API key for {self.base_url}: set api_key in the config "
                              f"or the environment variable {api_key_env}")
        self.model, self.num_frames, self.max_side = model, num_frames, max_side
        self.prompt, self.system_prompt = prompt, system_prompt
        self.max_tokens, self.temperature, self.timeout = max_tokens, temperature, timeout
        self.retries, self.backoff, self.backend = retries, backoff, backend

    def request_body(self, frames: np.ndarray) -> dict:
        """The chat-completions JSON body for (N, H, W, 3) uint8 frames: one user message, text then images."""
        content: list[dict] = [{"type": "text", "text": self.prompt}]
        content += [{"type": "image_url", "image_url": {"url": _jpeg_data_url(f, self.max_side)}} for f in frames]
        messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        messages.append({"role": "user", "content": content})
        return {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    def _post(self, body: dict, video_path: str) -> dict:
        url = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                if exc.code in (429, 500, 502, 503, 504) and attempt < self.retries:
                    time.sleep(self.backoff * 2 ** attempt)
                    continue
                raise DataError(f"{video_path}: captioning request to {url} failed with HTTP {exc.code}: "
                                f"{detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2 ** attempt)
                    continue
                reason = getattr(exc, "reason", exc)
                raise DataError(f"{video_path}: cannot reach the captioning endpoint {url} ({reason})") from None
            except json.JSONDecodeError:
                raise DataError(f"{video_path}: the endpoint {url} did not answer with JSON") from None
        raise DataError(f"{video_path}: captioning failed after {self.retries + 1} attempts")  # pragma: no cover

    def caption(self, video_path: str) -> str:
        """One caption for the video at ``video_path``."""
        frames = sample_frames(video_path, self.num_frames, self.backend)
        answer = self._post(self.request_body(frames), video_path)
        try:
            text = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise DataError(f"{video_path}: unexpected answer from {self.base_url} (no choices[0].message.content): "
                            f"{json.dumps(answer)[:200]}") from None
        if isinstance(text, list):  # content parts
            text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
        return str(text).strip()

    def caption_many(self, video_paths: Sequence[str]) -> list[str]:
        """Captions of several videos, one request each."""
        return [self.caption(p) for p in video_paths]

    __call__ = caption


class CheckpointCaptioner:
    """Caption videos with a trained AEGIS video-language model: (B, C, T, H, W) clips -> ``model.generate`` -> text.

    ``config`` is the experiment file the model was trained with (its ``model`` is built from MODELS) and
    ``checkpoint`` a checkpoint file or work dir (its ``last_checkpoint``); weights load with ``weights_only=True``.
    Clips are prepared like the experiment's validation data (``val_dataloader.dataset.pipeline``) unless
    ``pipeline`` is given; by default a centred clip through ``VideoClipPipeline``.
    """

    def __init__(self, config: ExistingPath, checkpoint: str | None = None, pipeline: list[dict] | dict | None = None,
                 device: str = "cpu", batch_size: int = 8, strict: bool = False) -> None:
        from aegis.build import build_component
        from aegis.config import load_experiment
        from aegis.engine import safe_load
        from aegis.registry import MODELS

        from .transforms import build_pipeline

        cfg = load_experiment(config)
        if "model" not in cfg:
            raise ConfigError(f"config={config}: the experiment has no 'model' to caption with")
        self.model = build_component(cfg.model, MODELS, path="model")
        if not callable(getattr(self.model, "generate", None)):
            raise ConfigError(f"config={config}: model {type(self.model).__name__} has no generate(inputs) method; "
                              "CheckpointCaptioner needs a video-language model such as VideoCaptioner")
        if checkpoint is not None:
            from aegis.engine.checkpoint import resolve_checkpoint

            path = resolve_checkpoint(checkpoint, "checkpoint")  # a file, or the one a work dir's last_checkpoint names
            state = safe_load(path)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
            state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
            result = self.model.load_state_dict(state, strict=strict)
            own = set(self.model.state_dict())
            if not own & set(state):
                raise CheckpointError(f"checkpoint {path}: none of its {len(state)} keys matches the model built "
                                      f"from {config}")
            if result.missing_keys:
                print_log(f"checkpoint {path}: {len(result.missing_keys)} model keys not in the checkpoint (kept "
                          f"as built), e.g. {result.missing_keys[:3]}", logger="current", level=logging.WARNING)
        if pipeline is None:
            val = cfg.get("val_dataloader") or {}
            pipeline = (val.get("dataset") or {}).get("pipeline") or dict(type="VideoClipPipeline")
        self.pipeline = build_pipeline(pipeline, "captioner.pipeline")
        self.device, self.batch_size = torch.device(device), batch_size
        self.model.to(self.device).eval()
        params = inspect.signature(self.model.generate).parameters
        self._pass_samples = "data_samples" in params

    def _clip(self, video_path: str) -> torch.Tensor:
        results = dict(video_path=video_path, test_mode=True, caption="", captions=[])
        for t in self.pipeline:
            results = t(results)
        return results["inputs"]  # (C, T, H, W)

    @torch.no_grad()
    def caption_many(self, video_paths: Sequence[str]) -> list[str]:
        """Captions of several videos, generated ``batch_size`` clips at a time."""
        out: list[str] = []
        for start in range(0, len(video_paths), self.batch_size):
            paths = list(video_paths[start:start + self.batch_size])
            inputs = torch.stack([self._clip(p) for p in paths]).to(self.device)  # (B, C, T, H, W)
            if self._pass_samples:
                texts = self.model.generate(inputs, data_samples=[dict(video_path=p) for p in paths])
            else:
                texts = self.model.generate(inputs)
            out += [str(t).strip() for t in texts]
        return out

    def caption(self, video_path: str) -> str:
        """One caption for the video at ``video_path``."""
        return self.caption_many([video_path])[0]

    __call__ = caption
