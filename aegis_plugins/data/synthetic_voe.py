"""Violation-of-expectation (VoE) video pairs for measuring intuitive physics, as in Garrido et al. 2025,
"Intuitive physics understanding emerges from self-supervised pretraining on natural videos" (arXiv:2502.11831).

A pair is two videos of one scene with the same start: in one the scene goes on as physics allows, in the other
something impossible happens from ``diverge_frame`` on. A video model's *surprise* (the error of its latent
predictions of future frames) should be higher on the impossible video. Seven kinds, in label order ``VOE_KINDS``:

==============  ==========================================  ====================================================
kind            possible                                    impossible (``variant``)
==============  ==========================================  ====================================================
permanence      an object rolls along the ground            it vanishes (vanish); a second object appears from
                                                            nothing, the possible video staying without it (appear)
continuity      an object rolls at constant velocity        it teleports 11-15 px back, then rolls on (jump_back)
gravity         an object falls, accelerating, and lands     it hovers in mid-air (hover) or rises (rise)
solidity        an object rolls into a wall and bounces      it passes through the wall (wall)
inertia         an object slides at constant velocity       it stops, turns back or speeds up, untouched
                                                            (stop, reverse, speed_up)
water_uphill    water runs down a slope (slope) / into a     the front runs back up the slope (slope) / climbs
                valley, filling it with a level surface      the opposite slope as a stream (valley)
                (valley)
fire_backwards  a fire front advances over vegetation,      the flames jump back onto the burnt ground (jump_back)
                leaving black burnt ground                  or the front retreats and the vegetation regrows
                                                            (rewind)
==============  ==========================================  ====================================================

Frames are side views drawn with numpy at 32 x 32 (any even size >= 24 scales the scene): a static, gently graded
sky, a ground line, bright anti-aliased discs or blocks of radius >= 3 px on a muted background, motion of 1-1.8 px
per frame at 16 frames (longer clips move proportionally slower so objects stay in view), so a ViT with 8-px
patches can read them. Kinematics are per frame (params give px and px/frame; ``fps`` only labels time).
Everything is drawn from the ``rng`` given (colours, sizes, positions, speeds, directions), so the model cannot
memorise one video. Both videos of a pair come from one plan whose tracks are equal before ``diverge_frame`` and
are drawn by one deterministic function, so the prefixes are bit-exact (checked on every render). The scenes
themselves are in ``synthetic_voe_scenes.py``; at 32 px and 16 frames every kind fits a ``diverge_frame`` of 5 to 10
(the default is frames // 2 = 8), outside that range the kinds whose event needs more room raise ConfigError.

``generate_voe_dataset`` writes the test pairs and a separate set of possible-only videos for pretraining and
probes (other random streams of the seed: no training video is a test video), as H.264 files in the caption-JSON
format of ``datasets.normalize_entry``.
"""
from __future__ import annotations

import os

import numpy as np

from aegis.engine.progress import track as progress
from aegis.errors import ConfigError

from .synthetic import _atomic_json  # the disaster set's JSON writer (atomic, the same formatting)
from .synthetic_voe_scenes import DRAW_ONLY, PLANNERS, SceneGeometry, ScenePlan
from .video_io import write_video

__all__ = ["VOE_KINDS", "VOE_VARIANTS", "VOE_SPLITS", "render_voe_pair", "render_voe_possible", "voe_captions",
           "generate_voe_dataset"]

VOE_KINDS = ("permanence", "continuity", "gravity", "solidity", "inertia", "water_uphill", "fire_backwards")
VOE_VARIANTS = {"permanence": ("vanish", "appear"), "continuity": ("jump_back",), "gravity": ("hover", "rise"),
                "solidity": ("wall",), "inertia": ("stop", "reverse", "speed_up"),
                "water_uphill": ("slope", "valley"), "fire_backwards": ("jump_back", "rewind")}
VOE_SPLITS = ("train", "val", "pairs")
_VAL_FRACTION = 0.2
_MIN_SIZE, _MIN_FRAMES, _MIN_SIDE = 24, 8, 3  # _MIN_SIDE: frames needed before and after the divergence


# ------------------------------------------------------------------------------------------------ rendering


def _check_settings(size: int, frames: int, fps: float) -> None:
    if not isinstance(size, int) or size < _MIN_SIZE or size % 2:
        raise ConfigError(f"size={size!r}: need an even frame size >= {_MIN_SIZE} (H.264 4:2:0; the scenes are "
                          f"drawn for 32), e.g. {max(_MIN_SIZE, int(size) + int(size) % 2)}")
    if not isinstance(frames, int) or frames < _MIN_FRAMES:
        raise ConfigError(f"frames={frames!r}: need at least {_MIN_FRAMES} frames per video (3 before the "
                          "divergence and 3 after it; the scenes are drawn for 16)")
    if not fps > 0:
        raise ConfigError(f"fps={fps!r}: must be positive, e.g. 8.0")


def _check_kind(kind: str, variant: str | None) -> None:
    if kind not in VOE_KINDS:
        raise ConfigError(f"kind={kind!r}: not a VoE kind; expected one of {', '.join(VOE_KINDS)}")
    if variant is not None and variant not in VOE_VARIANTS[kind]:
        raise ConfigError(f"variant={variant!r}: not a variant of {kind!r}; expected one of "
                          f"{', '.join(VOE_VARIANTS[kind])}")


def _to_video(plan: ScenePlan, track: dict, frames: int) -> np.ndarray:
    return np.stack([(np.clip(plan.draw(track, t), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
                     for t in range(frames)])  # (T, H, W, 3)


def _json_track(track: dict) -> dict:
    """The public track as JSON-able lists (floats rounded to 1e-4 px, flags as bools, None kept)."""
    out = {}
    for key, values in track.items():
        if key in DRAW_ONLY:
            continue
        out[key] = [None if v is None else (bool(v) if isinstance(v, (bool, np.bool_)) else round(float(v), 4))
                    for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
    return out


def _json_params(params: dict) -> dict:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return round(float(v), 4)
        if isinstance(v, np.integer):
            return int(v)
        return v
    return clean(params)


def _plan(kind: str, rng: np.random.Generator, size: int, frames: int, d: int, variant: str | None) -> ScenePlan:
    if variant is None:
        variant = VOE_VARIANTS[kind][int(rng.integers(len(VOE_VARIANTS[kind])))]
    return PLANNERS[kind](SceneGeometry(size, frames), rng, d, variant)


def render_voe_pair(kind: str, rng: np.random.Generator, size: int = 32, frames: int = 16, fps: float = 8.0,
                    diverge_frame: int | None = None, variant: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one VoE pair: ``(possible, impossible, meta)``, two (T, H, W, 3) uint8 videos that are bit-exact
    equal for frames < ``diverge_frame`` (default ``frames // 2``; it must leave >= 3 frames on each side) and
    differ from it on. ``variant`` (one of ``VOE_VARIANTS[kind]``) is drawn from ``rng`` when None.

    ``meta``: ``diverge_frame``; ``params`` (JSON-able: variant, speeds in px/frame, positions in px, colours,
    sizes, direction); ``track`` = {"possible": {...}, "impossible": {...}}, per-frame lists: for the object kinds
    the subject's centre ``x``, ``y`` (px, y down) and ``visible``; for water_uphill ``front_x``, ``front_y``,
    ``bottom_surface_y``; for fire_backwards ``front_x``, ``burnt_x``, ``burnt_width`` (module docstring).
    """
    _check_settings(size, frames, fps)
    _check_kind(kind, variant)
    d = frames // 2 if diverge_frame is None else diverge_frame
    if not isinstance(d, (int, np.integer)) or not _MIN_SIDE <= d <= frames - _MIN_SIDE:
        raise ConfigError(f"diverge_frame={diverge_frame!r}: must leave >= {_MIN_SIDE} frames before and after it, "
                          f"i.e. lie in [{_MIN_SIDE}, {frames - _MIN_SIDE}] for frames={frames}; e.g. {frames // 2}")
    d = int(d)
    plan = _plan(kind, rng, size, frames, d, variant)
    possible, impossible = _to_video(plan, plan.possible, frames), _to_video(plan, plan.impossible, frames)
    if not np.array_equal(possible[:d], impossible[:d]):  # a planner bug, not bad input
        raise RuntimeError(f"render_voe_pair({kind!r}): the prefix before frame {d} differs between the videos")
    meta = dict(diverge_frame=d, params=_json_params(dict(plan.params, kind=kind)),
                track=dict(possible=_json_track(plan.possible), impossible=_json_track(plan.impossible)))
    return possible, impossible, meta


def render_voe_possible(kind: str, rng: np.random.Generator, size: int = 32, frames: int = 16, fps: float = 8.0,
                        variant: str | None = None) -> tuple[np.ndarray, dict]:
    """A physically possible video of ``kind``'s scene family (pretraining and probe data): ``(video (T, H, W, 3)
    uint8, params)``. The scene's event (landing, bounce, the water reaching the bottom, ...) happens at a frame
    drawn in [frames // 2 - frames // 8, frames // 2], so its timing varies a little; ``params["event_frame"]``
    says which. ``params["track"]`` is the video's per-frame track."""
    _check_settings(size, frames, fps)
    _check_kind(kind, variant)
    d = int(rng.integers(max(_MIN_SIDE, frames // 2 - frames // 8), frames // 2 + 1))
    plan = _plan(kind, rng, size, frames, d, variant)
    params = _json_params(dict(plan.params, kind=kind, event_frame=d))
    params["track"] = _json_track(plan.possible)
    return _to_video(plan, plan.possible, frames), params


# ------------------------------------------------------------------------------------------------ captions

_CAPTIONS = {
    ("permanence", True): ("{A} {c} {o} rolls {d} along the ground.", "{A} {c} {o} keeps rolling {d}."),
    ("permanence", "vanish"): ("{A} {c} {o} rolls {d} and vanishes into thin air.",
                               "{A} {c} {o} rolling {d} suddenly disappears."),
    ("permanence", "appear"): ("{A} {c} {o} rolls {d}; {a2} {c2} {o2} appears out of nowhere behind it.",
                               "{A2} {c2} {o2} pops into existence behind {a} {c} {o} rolling {d}."),
    ("continuity", True): ("{A} {c} {o} rolls steadily {d}.", "{A} {c} {o} rolls {d} at a constant speed."),
    ("continuity", False): ("{A} {c} {o} rolls {d}, then jumps back without crossing the space between.",
                            "{A} {c} {o} rolling {d} teleports backwards and rolls on."),
    ("gravity", True): ("{A} {c} {o} falls, speeding up, and lands on the ground.",
                        "{A} {c} {o} drops to the ground."),
    ("gravity", "falling"): ("{A} {c} {o} falls, speeding up.", "{A} {c} {o} drops toward the ground."),
    ("gravity", "hover"): ("{A} {c} {o} falls, then stops and hovers in mid-air.",
                           "A falling {c} {o} freezes in the air with nothing holding it."),
    ("gravity", "rise"): ("{A} {c} {o} falls, then rises back up with nothing lifting it.",
                          "A falling {c} {o} turns around and floats upward."),
    ("solidity", True): ("{A} {c} {o} rolls {d} into a wall and bounces back.",
                         "{A} {c} {o} hits a wall and rebounds."),
    ("solidity", False): ("{A} {c} {o} rolls {d} into a wall and passes straight through it.",
                          "{A} {c} {o} goes through a solid wall."),
    ("inertia", True): ("{A} {c} {o} slides {d} at a constant speed.", "{A} {c} {o} glides steadily {d}."),
    ("inertia", "stop"): ("{A} {c} {o} sliding {d} stops dead with nothing touching it.",
                          "{A} {c} {o} halts abruptly for no reason."),
    ("inertia", "reverse"): ("{A} {c} {o} sliding {d} turns back with nothing touching it.",
                             "{A} {c} {o} reverses direction on its own."),
    ("inertia", "speed_up"): ("{A} {c} {o} sliding {d} suddenly speeds up with nothing pushing it.",
                              "{A} {c} {o} accelerates on its own."),
    ("water_uphill", "slope", True): ("Water flows down the slope.", "Water runs downhill over the ground."),
    ("water_uphill", "slope", False): ("Water flows down the slope, then runs back up it.",
                                       "Water runs downhill and then flows uphill again."),
    ("water_uphill", "valley", True): ("Water flows down into the valley and fills it with a level surface.",
                                       "Water pours into a valley and pools at the bottom."),
    ("water_uphill", "valley", False): ("Water flows down into the valley and climbs the slope on the far side.",
                                        "Water runs downhill and then uphill out of the valley."),
    ("fire_backwards", True): ("A fire front spreads {d}, leaving burnt ground behind.",
                               "Flames advance {d} over the vegetation, burning it black."),
    ("fire_backwards", "jump_back"): ("A fire front spreading {d} jumps back onto the burnt ground.",
                                      "Flames leap backwards and burn again on ground already burnt."),
    ("fire_backwards", "rewind"): ("A fire front spreading {d} retreats and the burnt ground turns green again.",
                                   "The fire moves backwards and the vegetation regrows."),
}
_DIRECTION_WORDS = {"east": "to the east", "west": "to the west", None: ""}


def voe_captions(kind: str, params: dict, possible: bool) -> list[str]:
    """Plain descriptions of one VoE video, the canonical one first ("A red ball rolls to the east along the
    ground.", "A red ball rolls to the east and vanishes into thin air.")."""
    variant = params.get("variant")
    if kind == "water_uphill":
        key = (kind, variant, possible)
    elif possible:
        key = (kind, "falling") if kind == "gravity" and not params.get("lands_in_clip") else (kind, True)
    else:
        key = (kind, variant) if (kind, variant) in _CAPTIONS else (kind, False)
    obj, other = params.get("object", {}), params.get("appearing_object", {})
    nouns = {"disc": "ball", "block": "block"}
    colour, colour2 = obj.get("colour_name", ""), other.get("colour_name", "")
    article, article2 = ("an" if w[:1] in tuple("aeiou") else "a" for w in (colour, colour2))
    words = dict(c=colour, o=nouns.get(obj.get("shape"), "object"), c2=colour2,
                 o2=nouns.get(other.get("shape"), "object"), d=_DIRECTION_WORDS[params.get("direction")],
                 a=article, A=article.capitalize(), a2=article2, A2=article2.capitalize())
    return [t.format(**words) for t in _CAPTIONS[key]]


# ------------------------------------------------------------------------------------------------ the data set


def _entry(rel: str, kind: str, params: dict, possible: bool, split: str, pair: int, diverge: int,
           track: dict, size: int, frames: int, fps: float) -> dict:
    captions = voe_captions(kind, params, possible)
    return dict(video_path=rel, caption=captions[0], captions=captions, label=VOE_KINDS.index(kind), class_name=kind,
                split=split, pair=pair, possible=possible, diverge_frame=diverge, variant=params["variant"],
                direction=params.get("direction"), params=params, track=track, fps=fps, num_frames=frames,
                size=size)


def generate_voe_dataset(out_dir: str, num_pairs: int = 20, num_train: int = 700, seed: int = 0, size: int = 32,
                         frames: int = 16, fps: float = 8.0) -> str:
    """Write the VoE set to ``out_dir``; returns the path of ``captions.json``.

    * ``pairs.json``: ``num_pairs`` pairs per kind (variants alternate within a kind), two entries each, with
      ``pair`` (the pair's id, shared by its two videos), ``possible`` (bool), ``diverge_frame`` (frames // 2),
      ``variant``, ``params``, ``track``; ``label`` indexes ``VOE_KINDS``, ``class_name`` is the kind.
    * ``train.json`` / ``val.json``: ``num_train`` possible-only videos in all, balanced over kinds (video i has kind
      i mod 7), the last 20% of each kind (at least 1 once a kind has 2) in val; ``pair`` and ``diverge_frame`` are
      -1, ``possible`` is True. Pretraining and probes use these, never the pairs.
    * ``captions.json``: every entry (with ``split`` = train, val or pairs), written last: its presence marks a
      complete set; ``synthetic_meta.json``: the settings. All JSON is written atomically.

    Video rngs are ``default_rng([seed, 0, pair])`` for pairs and ``default_rng([seed, 1, i])`` for possible-only
    videos, so the two sets never share a video and the same seed gives byte-identical files.
    """
    _check_settings(size, frames, fps)
    if not isinstance(num_pairs, int) or num_pairs < 1:
        raise ConfigError(f"num_pairs={num_pairs!r}: need at least 1 pair per kind, e.g. 20")
    if not isinstance(num_train, int) or num_train < 2 * len(VOE_KINDS):
        raise ConfigError(f"num_train={num_train!r}: need at least {2 * len(VOE_KINDS)} possible-only videos (one "
                          f"train and one val per kind), e.g. 700")
    os.makedirs(os.path.join(out_dir, "videos"), exist_ok=True)
    def variant_of(kind: str, j: int) -> str:  # variants alternate within a kind
        return VOE_VARIANTS[kind][j % len(VOE_VARIANTS[kind])]

    jobs = [("pairs", k * num_pairs + j, kind, variant_of(kind, j))
            for k, kind in enumerate(VOE_KINDS) for j in range(num_pairs)]
    for k, kind in enumerate(VOE_KINDS):
        ids = list(range(k, num_train, len(VOE_KINDS)))  # this kind's possible-only videos
        num_val = max(1, round(len(ids) * _VAL_FRACTION)) if len(ids) >= 2 else 0
        jobs += [("val" if n >= len(ids) - num_val else "train", i, kind, variant_of(kind, n))
                 for n, i in enumerate(ids)]
    jobs.sort(key=lambda job: (job[0] != "pairs", job[1]))  # pairs, then the possible-only videos in index order
    entries: dict[str, list[dict]] = {split: [] for split in VOE_SPLITS}
    for split, i, kind, variant in progress(jobs, "voe scenes", unit="scenes"):
        if split == "pairs":
            possible, impossible, meta = render_voe_pair(kind, np.random.default_rng([seed, 0, i]), size, frames,
                                                         fps, variant=variant)
            for video, ok in ((possible, True), (impossible, False)):
                rel = f"videos/pair_{i:04d}_{kind}_{'possible' if ok else 'impossible'}.mp4"
                write_video(os.path.join(out_dir, rel), video, fps=fps)
                entries["pairs"].append(_entry(rel, kind, meta["params"], ok, "pairs", i, meta["diverge_frame"],
                                               meta["track"]["possible" if ok else "impossible"], size, frames,
                                               fps))
        else:
            video, params = render_voe_possible(kind, np.random.default_rng([seed, 1, i]), size, frames, fps,
                                                variant=variant)
            track = params.pop("track")
            rel = f"videos/possible_{i:05d}_{kind}.mp4"
            write_video(os.path.join(out_dir, rel), video, fps=fps)
            entries[split].append(_entry(rel, kind, params, True, split, -1, -1, track, size, frames, fps))
    for split in VOE_SPLITS:
        _atomic_json(entries[split], os.path.join(out_dir, f"{split}.json"))
    meta = dict(generator="aegis_plugins.data.synthetic_voe", scenes="voe", num_pairs=num_pairs,
                num_train=num_train, seed=seed, size=size, frames=frames, fps=float(fps), kinds=list(VOE_KINDS),
                variants={k: list(v) for k, v in VOE_VARIANTS.items()})
    _atomic_json(meta, os.path.join(out_dir, "synthetic_meta.json"))
    path = os.path.join(out_dir, "captions.json")
    _atomic_json(entries["pairs"] + entries["train"] + entries["val"], path)
    return path
