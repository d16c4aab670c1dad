"""The caption tokenizer: trained from text with no download, round-trips captions, saves and loads atomically."""
import json

import pytest

from aegis.errors import CheckpointError, DataError
from aegis_plugins.llms.tokenizer import CaptionTokenizer, read_caption_corpus

CORPUS = ["Water level rising rapidly", "Fire spreading slowly to the east", "The ground is shaking violently"]


def test_round_trip_and_special_ids():
    tok = CaptionTokenizer.train(CORPUS, vocab_size=64)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    ids = tok.encode("Fire spreading rapidly")
    assert min(ids) > 3 and tok.decode(ids) == "Fire spreading rapidly"
    assert tok.decode([1, *ids, 2, 0]) == "Fire spreading rapidly"  # specials dropped
    assert tok.encode(" Fire") == tok.encode("Fire")  # a leading space does not change the ids


def test_larger_vocab_gives_whole_words():
    small, large = CaptionTokenizer.train(CORPUS, 40), CaptionTokenizer.train(CORPUS, 120)
    assert len(large.encode("Water level rising rapidly")) < len(small.encode("Water level rising rapidly"))
    assert len(large.encode("Water level rising rapidly")) == 4


def test_save_load(tmp_path):
    tok = CaptionTokenizer.train(CORPUS, 64)
    tok.save(tmp_path / "tokenizer.json")
    again = CaptionTokenizer.load(tmp_path / "tokenizer.json")
    assert again.encode("The ground is shaking") == tok.encode("The ground is shaking")
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(CheckpointError, match="lm_pretrain_tiny"):
        CaptionTokenizer.load(tmp_path / "missing.json")


def test_read_corpus(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"video_path": "a.mp4", "caption": "x", "captions": ["x", "y"]},
                                {"video_path": "b.mp4", "caption": "z"}]))
    assert read_caption_corpus(path) == ["x", "y", "z"]
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="entry 0"):
        read_caption_corpus(path)
    with pytest.raises(DataError, match="does not exist"):
        read_caption_corpus(tmp_path / "nope.json")
