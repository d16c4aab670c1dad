"""physics_eval: a physics sweep tabulated per swept value (tools/physics_study.py's table)."""
from aegis.sweep.report import TrialResult
from aegis_plugins.models.physics_eval import format_study_table, study_rows, voe_by_kind


def test_study_rows_aggregate_seed_runs_per_swept_value_and_skip_unfinished_runs():
    def run(gravity, overall):
        metrics = {"val/voe/gravity/pairwise_acc": dict(final=gravity), "val/voe/all/pairwise_acc": dict(final=overall),
                   "val/voe/gravity/auroc": dict(final=0.1), "train/loss": dict(final=0.3)}
        return dict(result=dict(metrics=metrics))

    assert voe_by_kind(run(0.7, 0.6)["result"]["metrics"]) == dict(gravity=0.7, all=0.6)
    trials = [TrialResult(0, "COMPLETE", dict(causality_weight=1.0), 0.7, [run(0.6, 0.7), run(0.8, 0.7)]),
              TrialResult(1, "COMPLETE", dict(causality_weight=0.0), 0.5, [run(0.2, 0.5), dict(result=None)])]
    rows = study_rows(trials, ["causality_weight"], probe=lambda r: r["result"]["metrics"]["train/loss"]["final"])
    assert [row["params"]["causality_weight"] for row in rows] == [0.0, 1.0]  # in the order of the swept values
    assert rows[0]["runs"] == 1 and rows[1]["voe"] == [dict(gravity=0.6, all=0.7), dict(gravity=0.8, all=0.7)]
    assert rows[1]["probe"] == [0.3, 0.3]
    table = format_study_table(rows, ["causality_weight"]).splitlines()
    assert table[0] == "| causality_weight | gravity | all | probe | seeds |"
    assert table[2] == "| 0.0 | 0.20 | 0.50 | 0.30 | 1 |"
    assert table[3].startswith("| 1.0 | 0.70 ± 1.27 | 0.70 ± 0.00 |")  # t(1 df) = 12.706 x 0.1414 / sqrt(2)
