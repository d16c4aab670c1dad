"""The alert-calibration hook of the video captioner: after training it fits the out-of-distribution reference on the
training split and sets the confidence and OOD thresholds on the validation split (``aegis_plugins/models/
alert_trust.py``), so ``tools/infer.py`` can withhold alerts on footage unlike the training data.
"""
from __future__ import annotations

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from aegis.errors import AegisError, ConfigError

__all__ = ["AlertCalibrationHook"]


class AlertCalibrationHook(Hook):
    """After training, calibrates the captioner's alerts for the final checkpoint and writes
    ``<work_dir>/alert_trust.json`` (pinned to that checkpoint's SHA-256).

    The OOD reference is the encoder features of at most ``max_reference`` clips of ``reference_split`` read
    through the evaluation pipeline; the thresholds are the ``ood_quantile`` of ``calibration_split``'s OOD scores
    (k nearest neighbours, ``k``) and the ``confidence_quantile`` of its caption confidences, generated with the
    model's own ``num_beams``. Runs on the main process only. When the last checkpoint is not the trained model
    (no checkpoint saved at the end), it writes nothing and says how to calibrate later.
    """

    priority = "LOW"

    def __init__(self, k: int = 5, ood_quantile: float = 0.95, confidence_quantile: float = 0.05,
                 max_reference: int = 1024, reference_split: str = "train", calibration_split: str = "val") -> None:
        if k < 1 or max_reference < 2:
            raise ConfigError(f"AlertCalibrationHook: k={k} must be >= 1 and max_reference={max_reference} >= 2.")
        if not (0.0 < ood_quantile <= 1.0 and 0.0 <= confidence_quantile < 1.0):
            raise ConfigError(f"AlertCalibrationHook: ood_quantile={ood_quantile} must be in (0, 1] and "
                              f"confidence_quantile={confidence_quantile} in [0, 1) (e.g. 0.95 and 0.05).")
        self.k, self.ood_quantile, self.confidence_quantile = k, ood_quantile, confidence_quantile
        self.max_reference, self.reference_split, self.calibration_split = (max_reference, reference_split,
                                                                            calibration_split)

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        from aegis.engine.checkpoint import resolve_checkpoint, safe_load
        from aegis_plugins.models.alert_trust import calibrate_checkpoint

        later = ("calibrate it later with: python tools/calibrate_alerts.py --experiment EXPERIMENT "
                 f"--checkpoint {runner.work_dir}")
        try:
            checkpoint = resolve_checkpoint(runner.work_dir, "work_dir")
            meta = safe_load(checkpoint).get("meta", {})
        except AegisError as exc:
            runner.logger.warning(f"AlertCalibrationHook: no checkpoint to calibrate ({exc}); {later}")
            return
        if meta.get("iter") != runner.iter:
            runner.logger.warning(f"AlertCalibrationHook: the last checkpoint {checkpoint} is from iteration "
                                  f"{meta.get('iter')}, the model in memory from {runner.iter} (no checkpoint saved "
                                  f"at the end of training: CheckpointHook(save_last=True)); {later}")
            return
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        was_training = model.training
        model.eval()
        try:
            trust, path = calibrate_checkpoint(
                model, runner.cfg, checkpoint, experiment=getattr(runner.cfg, "filename", None), k=self.k,
                ood_quantile=self.ood_quantile, confidence_quantile=self.confidence_quantile,
                max_reference=self.max_reference, reference_split=self.reference_split,
                calibration_split=self.calibration_split)
        finally:
            model.train(was_training)
        runner.logger.info(
            f"alert calibration ({path}): OOD threshold {trust.ood_threshold:.3f} (the {self.ood_quantile:g} "
            f"quantile of {trust.info['num_calibration']} {self.calibration_split} clips, reference "
            f"{trust.info['num_reference']} {self.reference_split} clips), confidence threshold "
            f"{trust.confidence_threshold:.3f} (the {self.confidence_quantile:g} quantile)")
