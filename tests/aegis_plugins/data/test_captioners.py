"""Captioners: an OpenAI-compatible endpoint (a real HTTP server on 127.0.0.1) and a trained AEGIS checkpoint."""
from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import CAPTIONERS


class _Endpoint:
    """A chat-completions server: records each request and answers with the queued (status, body) replies."""

    def __init__(self):
        self.requests, self.replies = [], []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(dict(path=self.path, auth=self.headers.get("Authorization"), body=body))
                status, reply = endpoint.replies.pop(0) if endpoint.replies else (200, None)
                if reply is None:
                    reply = {"choices": [{"message": {"role": "assistant", "content": " Water level rising rapidly "}}]}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_openai_captioner_sends_frames_and_returns_the_answer(ramp_video):
    from PIL import Image
    with _Endpoint() as ep:
        cap = build_component(dict(type="OpenAIChatCaptioner", model="gpt-4o", base_url=ep.url, api_key="sk-test",
                                   num_frames=3, max_side=16), CAPTIONERS)
        assert cap.caption(ramp_video) == "Water level rising rapidly"
    request = ep.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 60
    parts = body["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and "rapidly" in parts[0]["text"]
    images = [p["image_url"]["url"] for p in parts[1:]]
    assert len(images) == 3 and all(u.startswith("data:image/jpeg;base64,") for u in images)
    first = Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1])))
    assert first.size == (16, 12)  # 32x24 scaled to a longest side of 16
    last = Image.open(io.BytesIO(base64.b64decode(images[-1].split(",", 1)[1])))
    assert abs(last.getpixel((15, 11))[1] - 195) < 20  # the last frame (index 19) is sent last


def test_openai_captioner_reads_the_environment_and_retries_rate_limits(ramp_video, monkeypatch):
    with _Endpoint() as ep:
        monkeypatch.setenv("OPENAI_BASE_URL", ep.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        ep.replies = [(429, {"error": {"message": "slow down"}}), (200, None)]
        cap = build_component(dict(type="OpenAIChatCaptioner", num_frames=1, backoff=0.01), CAPTIONERS)
        assert cap.caption(ramp_video) == "Water level rising rapidly"
        assert len(ep.requests) == 2 and ep.requests[1]["auth"] == "Bearer sk-env"
        ep.replies = [(401, {"error": {"message": "bad key"}})]
        with pytest.raises(DataError, match=r"ramp.mp4: .*HTTP 401: .*bad key"):
            cap.caption(ramp_video)


def test_openai_captioner_errors(ramp_video, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_component(dict(type="OpenAIChatCaptioner"), CAPTIONERS)
    cap = build_component(dict(type="OpenAIChatCaptioner", base_url="http://127.0.0.1:9/v1", retries=0, timeout=2),
                          CAPTIONERS)
    with pytest.raises(DataError, match="cannot reach"):
        cap.caption(ramp_video)
    with _Endpoint() as ep:
        ep.replies = [(200, {"unexpected": True})]
        cap = build_component(dict(type="OpenAIChatCaptioner", base_url=ep.url, num_frames=1), CAPTIONERS)
        with pytest.raises(DataError, match="no choices"):
            cap.caption(ramp_video)


EXPERIMENT = '''
model = dict(
    type="VideoCaptioner",
    encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                 num_frames=2, img_size=16, frozen=True),
    connector=dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64),
    llm=dict(type="TinyCausalLM", vocab_size=64, hidden_size=48, num_layers=2, num_heads=2,
             max_position_embeddings=64),
    prompt="Describe the disaster:", max_new_tokens=6)
val_dataloader = dict(dataset=dict(type="VideoCaptionDataset", ann_file="unused.json",
                                   pipeline=dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=2,
                                                 img_size=16)))
'''


def test_checkpoint_captioner_matches_the_trained_model(tmp_path, synthetic_root):
    pytest.importorskip("aegis_plugins.models.captioner")
    from aegis.engine import atomic_save
    from aegis.registry import MODELS
    from aegis_plugins.data.transforms import Compose

    config = tmp_path / "vlm.py"
    config.write_text(EXPERIMENT)
    ns = {}
    exec(EXPERIMENT, ns)
    torch.manual_seed(3)
    model = build_component(ns["model"], MODELS, "model").eval()
    with torch.no_grad():  # make the checkpoint differ from a fresh init
        for p in model.connector.parameters():
            p.add_(0.05 * torch.randn_like(p))
    atomic_save({"state_dict": model.state_dict(), "meta": {"epoch": 1}}, tmp_path / "epoch_1.pth")
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_1.pth"))

    names = sorted(p.name for p in (synthetic_root / "videos").iterdir())[:3]
    videos = [str(synthetic_root / "videos" / n) for n in names]
    clips = torch.stack([Compose(dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=2, img_size=16))(
        dict(video_path=v, test_mode=True))["inputs"] for v in videos])
    expected = [t.strip() for t in model.generate(clips)]

    cap = build_component(dict(type="CheckpointCaptioner", config=str(config), checkpoint=str(tmp_path),
                               batch_size=2), CAPTIONERS)
    assert cap.caption_many(videos) == expected
    assert cap.caption(videos[0]) == expected[0]
    fresh = build_component(dict(type="CheckpointCaptioner", config=str(config)), CAPTIONERS)
    assert all(torch.equal(a, b) for a, b in zip(cap.model.state_dict().values(), model.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(fresh.model.state_dict().values(), model.state_dict().values()))
